//! corral-scope: under construction (see the workspace issue tracker).
