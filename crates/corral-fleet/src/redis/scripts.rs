//! The server-side scripts: each is the common prelude (`lua/common.lua`: reap expired
//! leases and waiter entries, grant the queue head) followed by one operation.

use redis::Script;

macro_rules! script {
    ($file:literal) => {
        concat!(include_str!("../lua/common.lua"), include_str!($file))
    };
}

/// Every script, loaded once per semaphore handle (`EVALSHA`, falling back to `EVAL`
/// once when the server does not have it, e.g. after a restart).
pub(crate) struct Scripts {
    pub(crate) acquire: Script,
    pub(crate) leave: Script,
    pub(crate) renew: Script,
    pub(crate) forget: Script,
    pub(crate) set_capacity: Script,
    pub(crate) close: Script,
    pub(crate) state: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Scripts {
            acquire: Script::new(script!("../lua/acquire.lua")),
            leave: Script::new(script!("../lua/leave.lua")),
            renew: Script::new(script!("../lua/renew.lua")),
            forget: Script::new(script!("../lua/forget.lua")),
            set_capacity: Script::new(script!("../lua/set_capacity.lua")),
            close: Script::new(script!("../lua/close.lua")),
            state: Script::new(script!("../lua/state.lua")),
        }
    }
}
