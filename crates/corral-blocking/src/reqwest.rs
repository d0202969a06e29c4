//! `reqwest` integration (feature `reqwest`): a [`Resolver`] as a
//! `reqwest::dns::Resolve`.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::resolver::Resolver;

/// Plugs the bounded, coalescing resolver into reqwest:
/// `reqwest::Client::builder().dns_resolver(Arc::new(resolver))`.
///
/// reqwest asks with port 0 and sets the port itself. Lookup errors are boxed
/// [`LookupError`](crate::LookupError)s.
impl Resolve for Resolver {
    fn resolve(&self, name: Name) -> Resolving {
        let lookup = self.lookup_host(name.as_str(), 0);
        Box::pin(async move {
            let addrs: Addrs = Box::new(lookup.await?);
            Ok(addrs)
        })
    }
}
