//! Host tool checks.
