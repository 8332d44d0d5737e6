//! The ringfence runtime library.
