//! reqwest integration: a [`Resolver`] as a `reqwest::dns::Resolve`.
//!
//! Feature `reqwest` targets reqwest's current major, 0.13; feature `reqwest-012` keeps
//! the same impl for reqwest 0.12. Both may be on at once (a workspace mid-upgrade).

use crate::resolver::Resolver;

/// One impl body for each supported reqwest major: the trait has the same shape in
/// both, but each major's trait is a different trait.
macro_rules! impl_resolve {
    ($reqwest:ident) => {
        /// Plugs the bounded, coalescing resolver into reqwest:
        /// `reqwest::Client::builder().dns_resolver(Arc::new(resolver))`.
        ///
        /// reqwest asks with port 0 and sets the port itself. Lookup errors are boxed
        /// [`LookupError`](crate::LookupError)s.
        impl $reqwest::dns::Resolve for Resolver {
            fn resolve(&self, name: $reqwest::dns::Name) -> $reqwest::dns::Resolving {
                let lookup = self.lookup_host(name.as_str(), 0);
                Box::pin(async move {
                    let addrs: $reqwest::dns::Addrs = Box::new(lookup.await?);
                    Ok(addrs)
                })
            }
        }
    };
}

#[cfg(feature = "reqwest")]
impl_resolve!(reqwest);
#[cfg(feature = "reqwest-012")]
impl_resolve!(reqwest_012);
