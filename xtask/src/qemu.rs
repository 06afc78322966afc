//! QEMU command lines.
