//! corral-leak: under construction (see the workspace issue tracker).
