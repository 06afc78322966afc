//! The -bios boot ROM.
