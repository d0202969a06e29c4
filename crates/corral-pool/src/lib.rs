//! corral-pool: under construction (see the workspace issue tracker).
