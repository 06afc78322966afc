//! The HTTP tests of `warden-verifier`, one test binary so that the INSECURE TEST KEY hierarchy
//! (two RSA-4096 keys, seconds to generate) is built once for all of them.
mod bad_input;
mod handshake;
mod replicas;
mod serve_cli;
mod support;
