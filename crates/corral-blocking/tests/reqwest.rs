//! The `reqwest` feature: `Resolver` as a `reqwest::dns::Resolve`.
//! Built only with `--features reqwest`.
#![cfg(feature = "reqwest")]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use corral_blocking::{LookupError, Resolver};
use reqwest::dns::{Name, Resolve};

#[tokio::test]
async fn resolves_through_the_reqwest_trait() {
    let resolver = Resolver::builder()
        .lookup_fn(|host| match host {
            "api.test" => Ok(vec![IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3))]),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such host",
            )),
        })
        .build()
        .unwrap();
    let name: Name = "api.test".parse().unwrap();
    let addrs: Vec<SocketAddr> = resolver.resolve(name).await.unwrap().collect();
    assert_eq!(addrs, vec!["10.1.2.3:0".parse().unwrap()]);

    let Err(err) = resolver.resolve("nope.test".parse().unwrap()).await else {
        panic!("an unknown host resolved");
    };
    let err = err.downcast_ref::<LookupError>().expect("a LookupError");
    assert!(err.is_not_found());

    // And it plugs into a client in one line.
    let client = reqwest::Client::builder()
        .dns_resolver(Arc::new(resolver))
        .build();
    assert!(client.is_ok());
}
