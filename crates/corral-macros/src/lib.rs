//! corral-macros: under construction (see the workspace issue tracker).
