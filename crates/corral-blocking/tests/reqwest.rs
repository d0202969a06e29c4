//! The `reqwest` (0.13) and `reqwest-012` features: `Resolver` as a
//! `reqwest::dns::Resolve`. Built only with either feature.
#![cfg(any(feature = "reqwest", feature = "reqwest-012"))]

use std::net::{IpAddr, Ipv4Addr};

use corral_blocking::Resolver;

fn resolver() -> Resolver {
    Resolver::builder()
        .lookup_fn(|host| match host {
            "api.test" => Ok(vec![IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3))]),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such host",
            )),
        })
        .build()
        .unwrap()
}

/// The same assertions against each supported major.
macro_rules! resolve_tests {
    ($module:ident, $reqwest:ident) => {
        mod $module {
            use std::net::SocketAddr;
            use std::sync::Arc;

            use corral_blocking::LookupError;
            use $reqwest::dns::{Name, Resolve};

            #[tokio::test]
            async fn resolves_through_the_reqwest_trait() {
                let resolver = super::resolver();
                let name: Name = "api.test".parse().unwrap();
                let addrs: Vec<SocketAddr> = resolver.resolve(name).await.unwrap().collect();
                assert_eq!(addrs, vec!["10.1.2.3:0".parse().unwrap()]);

                let Err(err) = resolver.resolve("nope.test".parse().unwrap()).await else {
                    panic!("an unknown host resolved");
                };
                let err = err.downcast_ref::<LookupError>().expect("a LookupError");
                assert!(err.is_not_found());
            }

            #[tokio::test]
            async fn plugs_into_a_client_in_one_line() {
                let client = $reqwest::Client::builder()
                    .dns_resolver(Arc::new(super::resolver()))
                    .build();
                assert!(client.is_ok());
            }
        }
    };
}

#[cfg(feature = "reqwest")]
resolve_tests!(reqwest_013, reqwest);
#[cfg(feature = "reqwest-012")]
resolve_tests!(reqwest_012, reqwest_012);
