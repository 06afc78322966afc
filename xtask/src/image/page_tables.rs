//! The initial page tables.
