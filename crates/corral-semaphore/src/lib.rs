//! corral-semaphore: under construction (see the workspace issue tracker).
