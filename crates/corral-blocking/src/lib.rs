//! corral-blocking: under construction (see the workspace issue tracker).
