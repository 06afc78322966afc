//! warden-machine: an emulated SEV-SNP machine.
fn main() {}
