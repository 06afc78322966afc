//! What a command handler sees: its handles, its parameters, and where its response goes.

use crate::wire::handle::Handle;
use crate::wire::marshal::{Reader, Writer};

/// What a command handler sees: its handles, its parameters, and where its response goes.
#[derive(Debug)]
pub(crate) struct Cmd<'a> {
    pub handles: [Handle; 3],
    pub params: Reader<'a>,
    /// The response parameter area.
    pub out: Writer,
    /// The response handle, for commands that return one.
    pub rhandle: Handle,
    /// Whether the authorization for each handle came from a policy session (NV access rules differ).
    pub by_policy: [bool; 3],
    pub locality: u8,
}

#[cfg(test)]
impl Cmd<'static> {
    /// A command with no handles or parameters, for tests that only need to reach a handler.
    pub fn for_test() -> Self {
        Cmd {
            handles: [Handle::default(); 3],
            params: Reader::new(&[]),
            out: Writer::new(),
            rhandle: Handle::default(),
            by_policy: [false; 3],
            locality: 0,
        }
    }
}
