//! The command pipeline common to every command (Part 3 §5): header, command code, initialisation,
//! handles, authorization area, authorization, parameters, response.

use alloc::vec::Vec;

use zerocopy::byteorder::big_endian::{U16, U32};
use zerocopy::{FromBytes, IntoBytes};

use crate::crypto::SecretBytes;
use crate::engine::authorization::{self as auth, SessionIn};
use crate::engine::command::Cmd;
use crate::engine::command_table::{self as commands};
use crate::engine::handles::check_handle;
use crate::wire::command_code::CommandCode;
use crate::wire::constants::st;
use crate::wire::handle::Handle;
use crate::wire::marshal::{CommandHeader, Reader, ResponseHeader, Writer};
use crate::wire::response_code::{ResponseCode, TpmResult};
use crate::{MAX_COMMAND_SIZE, MAX_RESPONSE_SIZE, Power, Tpm};

/// Most sessions a command may carry (Part 1 §18.1: three).
const MAX_SESSIONS: usize = 3;

/// A bare error response: tag TPM_ST_NO_SESSIONS, size 10, the code (Part 1 §18.4).
pub(crate) fn error_response(rc: ResponseCode) -> Vec<u8> {
    with_header(st::NO_SESSIONS, rc, &[])
}

pub(crate) fn execute(tpm: &mut Tpm, command: &[u8]) -> Vec<u8> {
    match run(tpm, command) {
        Ok(r) if r.len() <= MAX_RESPONSE_SIZE => r,
        // Every response is bounded well below the maximum; this is a bug net, not a path.
        Ok(_) => error_response(ResponseCode::FAILURE),
        Err(rc) => error_response(rc),
    }
}

fn run(tpm: &mut Tpm, command: &[u8]) -> TpmResult<Vec<u8>> {
    if tpm.power == Power::Off {
        return Err(ResponseCode::INITIALIZE);
    }
    // ExecuteCommand's order: tag, size, code (each TPM_RC_INSUFFICIENT when cut short).
    let mut head = Reader::new(command);
    let tag = head.u16()?;
    if tag != st::NO_SESSIONS && tag != st::SESSIONS {
        return Err(ResponseCode::BAD_TAG);
    }
    let size = head.u32()?;
    if usize::try_from(size).ok() != Some(command.len()) || command.len() > MAX_COMMAND_SIZE {
        return Err(ResponseCode::COMMAND_SIZE);
    }
    let (hdr, body) = CommandHeader::ref_from_prefix(command).map_err(|_| ResponseCode::INSUFFICIENT)?;
    let code = CommandCode(hdr.code.get());
    let platform_eps = tpm.keys.platform_endorsement_seed().is_some();
    let def = commands::lookup(code)
        .filter(|d| commands::offered(d, platform_eps))
        .ok_or(ResponseCode::COMMAND_CODE)?;
    match (tpm.power, code) {
        (Power::NeedStartup, c) if c != CommandCode::STARTUP => return Err(ResponseCode::INITIALIZE),
        (Power::Operational, CommandCode::STARTUP) => return Err(ResponseCode::INITIALIZE),
        _ => {}
    }
    if tpm.failed && code != CommandCode::GET_TEST_RESULT && code != CommandCode::GET_CAPABILITY {
        return Err(ResponseCode::FAILURE);
    }
    let now = tpm.now_ms();
    tpm.da.tick(now);

    let mut r = Reader::new(body);
    let mut handles = [Handle::default(); 3];
    for (i, (kind, slot)) in def.handles.iter().zip(handles.iter_mut()).enumerate() {
        let n = i as u32 + 1;
        *slot = r.handle().map_err(|e| e.handle(n))?;
        check_handle(tpm, *kind, *slot, i)?;
    }

    let mut sessions: [Option<SessionIn<'_>>; MAX_SESSIONS] = [None, None, None];
    let mut count = 0;
    if tag == st::SESSIONS {
        if def.no_sessions {
            return Err(ResponseCode::AUTH_CONTEXT);
        }
        let size = usize::try_from(r.u32()?).map_err(|_| ResponseCode::SIZE)?;
        // The smallest session is 9 bytes (handle, empty nonce, attributes, empty hmac).
        if size < 9 || size > r.remaining() {
            return Err(ResponseCode::SIZE);
        }
        let mut area = Reader::new(r.bytes(size)?);
        while area.remaining() > 0 {
            let n = count as u32 + 1;
            let Some(slot) = sessions.get_mut(count) else { return Err(ResponseCode::SIZE.session(n)) };
            *slot = Some(SessionIn::parse(&mut area, n)?);
            count += 1;
        }
    } else if def.auth > 0 {
        return Err(ResponseCode::AUTH_MISSING);
    }
    let params = r.rest();

    let used = auth::authorize(tpm, def, &handles, &sessions[..count], params)?;
    // cpHash covered the parameters as sent; the command sees them decrypted.
    // The parameters may carry secrets (sensitive data, new authValues, NV data): wiped when dropped.
    let mut plain = SecretBytes::new(params.to_vec());
    crate::engine::param_enc::decrypt_params(tpm, &used, &mut plain)?;
    let mut cmd = Cmd {
        handles,
        params: Reader::new(&plain),
        out: Writer::new(),
        rhandle: Handle::default(),
        by_policy: used.by_policy,
        locality: tpm.locality,
    };
    crate::engine::routing::run(tpm, code, &mut cmd)?;

    // Everything after the header, then the header in front of it. The response parameters may be
    // secret (Unseal, NV_Read): every intermediate copy is wiped; the caller owns the response.
    let mut w = Writer::secret();
    if def.rhandle {
        w.handle(cmd.rhandle);
    }
    let mut rp = cmd.out.into_secret();
    if tag == st::SESSIONS {
        let area = crate::engine::response::respond(tpm, code, &mut rp, used)?;
        w.u32(rp.len() as u32);
        w.bytes(&rp);
        w.bytes(&area);
    } else {
        let mut used = used;
        crate::engine::audit::record(tpm, code, &rp, &mut used);
        w.bytes(&rp);
    }
    Ok(with_header(tag, ResponseCode::SUCCESS, &w.into_secret()))
}

/// A response: the 10-byte header (size = header + body) followed by `body`.
fn with_header(tag: u16, rc: ResponseCode, body: &[u8]) -> Vec<u8> {
    let size = u32::try_from(size_of::<ResponseHeader>() + body.len()).unwrap_or(u32::MAX);
    let hdr = ResponseHeader { tag: U16::new(tag), size: U32::new(size), code: U32::new(rc.0) };
    let mut out = Vec::with_capacity(size as usize);
    out.extend_from_slice(hdr.as_bytes());
    out.extend_from_slice(body);
    out
}
