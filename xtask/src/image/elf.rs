//! Reading the firmware ELF.
