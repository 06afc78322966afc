//! No secret is left in freed memory (threat model T5, T6). Its own test binary: a global allocator
//! scans every block the engine frees for recognisable secrets, so no other test's allocations mix in.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use cfb_mode::cipher::{AsyncStreamCipher, KeyIvInit};
use warden_vtpm::insecure_test_entropy::InsecureTestEntropy;
use warden_vtpm::{CommandCode, Handle, Tpm};

/// The object's authValue.
const OBJECT_AUTH: [u8; 32] = *b"OBJECT-AUTH:0123456789abcdefghij";
/// The sealed data.
const SEALED: [u8; 48] = *b"SEALED-DATA:0123456789abcdefghijklmnopqrstuvwxyz";
/// The NV index's authValue.
const NV_AUTH: [u8; 32] = *b"NVINDEX-AUTH:123456789abcdefghij";
/// The owner's new authValue, sent encrypted (parameter encryption): the engine decrypts it.
const OWNER_AUTH: [u8; 32] = *b"OWNER-AUTH:0123456789abcdefghijk";
const PATTERNS: [&[u8]; 4] = [&OBJECT_AUTH, &SEALED, &NV_AUTH, &OWNER_AUTH];
/// Length of the window searched for: any 16 consecutive bytes of a pattern count as a leak.
const WINDOW: usize = 16;

/// Set while the engine runs; the test's own buffers (which hold the secrets too) are freed outside.
static WATCHING: AtomicBool = AtomicBool::new(false);
/// Freed blocks that still held a secret.
static LEAKS: AtomicUsize = AtomicUsize::new(0);
/// The commands (and the final drop) after which freed blocks held a secret, with how many.
static LEAKY: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Blocks freed while watching (to show the scan saw something).
static SCANNED: AtomicUsize = AtomicUsize::new(0);

fn holds_a_secret(block: &[u8]) -> bool {
    PATTERNS.iter().any(|p| p.windows(WINDOW).any(|w| block.windows(WINDOW).any(|b| b == w)))
}

/// The system allocator, scanning each block freed while `WATCHING` before it goes back.
struct Scanning;

// SAFETY: forwards every call to `System` unchanged; `dealloc` only reads the block it is handed,
// which is still allocated and `layout.size()` bytes long until `System.dealloc` returns.
unsafe impl GlobalAlloc for Scanning {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if WATCHING.load(Ordering::Relaxed) {
            // SAFETY: `ptr` points to a live block of `layout.size()` bytes (the caller's contract).
            // Bytes never written read as whatever the allocator left; u8 has no invalid values.
            let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            SCANNED.fetch_add(1, Ordering::Relaxed);
            if holds_a_secret(block) {
                LEAKS.fetch_add(1, Ordering::Relaxed);
            }
        }
        // SAFETY: the caller's contract for `dealloc` is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Scanning = Scanning;

fn b16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_be_bytes());
}
fn b32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_be_bytes());
}
fn tpm2b(v: &mut Vec<u8>, data: &[u8]) {
    b16(v, data.len() as u16);
    v.extend_from_slice(data);
}
fn pw(v: &mut Vec<u8>, password: &[u8]) {
    b32(v, Handle::RS_PW.0);
    b16(v, 0);
    v.push(1);
    tpm2b(v, password);
}

/// Runs one command with the scan on; returns (rc, body). The response (which may carry a secret,
/// e.g. Unseal's) is the caller's to wipe.
fn exec(t: &mut Tpm, cc: CommandCode, handles: &[u32], auth: Option<&[u8]>, params: &[u8]) -> (u32, Vec<u8>) {
    let mut cmd = Vec::new();
    b16(&mut cmd, if auth.is_some() { 0x8002 } else { 0x8001 });
    b32(&mut cmd, 0);
    b32(&mut cmd, cc.0);
    handles.iter().for_each(|&h| b32(&mut cmd, h));
    if let Some(a) = auth {
        b32(&mut cmd, a.len() as u32);
        cmd.extend_from_slice(a);
    }
    cmd.extend_from_slice(params);
    let size = (cmd.len() as u32).to_be_bytes();
    cmd[2..6].copy_from_slice(&size);
    let before = LEAKS.load(Ordering::SeqCst);
    WATCHING.store(true, Ordering::SeqCst);
    let resp = t.execute(&cmd);
    WATCHING.store(false, Ordering::SeqCst);
    let leaked = LEAKS.load(Ordering::SeqCst) - before;
    if leaked > 0 {
        LEAKY.lock().unwrap().push(format!("{cc:?}: {leaked}"));
    }
    let rc = u32::from_be_bytes(resp[6..10].try_into().unwrap());
    let body = resp[10..].to_vec();
    wipe(resp);
    wipe(cmd);
    (rc, body)
}

fn wipe(mut v: Vec<u8>) {
    v.iter_mut().for_each(|b| *b = 0);
    std::hint::black_box(&v);
}

fn ok(r: (u32, Vec<u8>)) -> Vec<u8> {
    assert_eq!(r.0, 0, "rc {:#x}", r.0);
    r.1
}

fn storage_template() -> Vec<u8> {
    // ECC P-256 storage key: fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|restricted|decrypt.
    let mut t = Vec::new();
    b16(&mut t, 0x0023);
    b16(&mut t, 0x000B);
    b32(&mut t, 0x0003_0072);
    tpm2b(&mut t, &[]);
    [0x0006, 128, 0x0043, 0x0010, 0x0003, 0x0010].iter().for_each(|&x| b16(&mut t, x));
    tpm2b(&mut t, &[]);
    tpm2b(&mut t, &[]);
    t
}

fn create_params(auth: &[u8], data: &[u8], template: &[u8]) -> Vec<u8> {
    let mut sens = Vec::new();
    tpm2b(&mut sens, auth);
    tpm2b(&mut sens, data);
    let mut p = Vec::new();
    tpm2b(&mut p, &sens);
    tpm2b(&mut p, template);
    tpm2b(&mut p, &[]);
    b32(&mut p, 0);
    p
}

/// Reads a TPM2B at `at`, returning it and the offset after it.
fn read_2b(b: &[u8], at: usize) -> (&[u8], usize) {
    let n = usize::from(u16::from_be_bytes([b[at], b[at + 1]]));
    (&b[at + 2..at + 2 + n], at + 2 + n)
}

/// Threat model T5/T6: after an object with a known authValue and sealed data is created, loaded,
/// unsealed, saved as a context, flushed; after an NV index with a known authValue is defined, written
/// and undefined; after the owner authValue arrives by parameter encryption; and after the `Tpm` is
/// dropped, no block the engine freed still holds any 16 bytes of those secrets.
#[test]
fn no_secret_is_left_in_freed_memory() {
    let mut t = Tpm::new(Box::new(InsecureTestEntropy::new(7)));
    t.power_on();
    ok(exec(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]));
    let mut empty_pw = Vec::new();
    pw(&mut empty_pw, b"");

    // Object: primary storage key, sealed child with a known authValue and data.
    let p = create_params(b"", b"", &storage_template());
    let body = ok(exec(&mut t, CommandCode::CREATE_PRIMARY, &[Handle::RH_OWNER.0], Some(&empty_pw), &p));
    let parent = u32::from_be_bytes(body[..4].try_into().unwrap());
    let mut sealed = Vec::new();
    b16(&mut sealed, 0x0008);
    b16(&mut sealed, 0x000B);
    b32(&mut sealed, 0x0000_0052); // fixedTPM|fixedParent|userWithAuth
    tpm2b(&mut sealed, &[]);
    b16(&mut sealed, 0x0010);
    tpm2b(&mut sealed, &[]);
    let p = create_params(&OBJECT_AUTH, &SEALED, &sealed);
    let body = ok(exec(&mut t, CommandCode::CREATE, &[parent], Some(&empty_pw), &p));
    let (private, at) = read_2b(&body, 4);
    let (public, _) = read_2b(&body, at);
    let mut p = Vec::new();
    tpm2b(&mut p, private);
    tpm2b(&mut p, public);
    let body = ok(exec(&mut t, CommandCode::LOAD, &[parent], Some(&empty_pw), &p));
    let object = u32::from_be_bytes(body[..4].try_into().unwrap());
    let mut object_pw = Vec::new();
    pw(&mut object_pw, &OBJECT_AUTH);
    let body = ok(exec(&mut t, CommandCode::UNSEAL, &[object], Some(&object_pw), &[]));
    assert_eq!(read_2b(&body, 4).0, SEALED, "Unseal returns the sealed data");
    wipe(body);
    let context = ok(exec(&mut t, CommandCode::CONTEXT_SAVE, &[object], None, &[]));
    ok(exec(&mut t, CommandCode::FLUSH_CONTEXT, &[], None, &object.to_be_bytes()));
    let body = ok(exec(&mut t, CommandCode::CONTEXT_LOAD, &[], None, &context));
    let object = u32::from_be_bytes(body[..4].try_into().unwrap());
    let body = ok(exec(&mut t, CommandCode::UNSEAL, &[object], Some(&object_pw), &[]));
    wipe(body);
    ok(exec(&mut t, CommandCode::FLUSH_CONTEXT, &[], None, &object.to_be_bytes()));

    // NV index with a known authValue: define, write with it, undefine.
    let index = 0x0150_0010u32;
    let mut nv_public = Vec::new();
    b32(&mut nv_public, index);
    b16(&mut nv_public, 0x000B);
    b32(&mut nv_public, 1 << 2 | 1 << 18); // AUTHWRITE | AUTHREAD
    tpm2b(&mut nv_public, &[]);
    b16(&mut nv_public, 8);
    let mut p = Vec::new();
    tpm2b(&mut p, &NV_AUTH);
    tpm2b(&mut p, &nv_public);
    ok(exec(&mut t, CommandCode::NV_DEFINE_SPACE, &[Handle::RH_OWNER.0], Some(&empty_pw), &p));
    let mut nv_pw = Vec::new();
    pw(&mut nv_pw, &NV_AUTH);
    let mut p = Vec::new();
    tpm2b(&mut p, b"12345678");
    b16(&mut p, 0);
    ok(exec(&mut t, CommandCode::NV_WRITE, &[index, index], Some(&nv_pw), &p));
    ok(exec(&mut t, CommandCode::NV_UNDEFINE_SPACE, &[Handle::RH_OWNER.0, index], Some(&empty_pw), &[]));

    // The owner's new authValue, encrypted by an unbound unsalted AES session (Part 1 §21).
    let mut p = Vec::new();
    tpm2b(&mut p, &[0x11; 32]);
    tpm2b(&mut p, &[]);
    p.push(0);
    [0x0006, 128, 0x0043, 0x000B].iter().for_each(|&x| b16(&mut p, x));
    let body = ok(exec(&mut t, CommandCode::START_AUTH_SESSION, &[Handle::RH_NULL.0; 2], None, &p));
    let session = u32::from_be_bytes(body[..4].try_into().unwrap());
    let nonce_tpm = read_2b(&body, 4).0.to_vec();
    let nonce_caller = [0x22u8; 32];
    let mut key_iv = [0u8; 32];
    let mut counter_block = Vec::new();
    b32(&mut counter_block, 1);
    counter_block.extend_from_slice(b"CFB\0");
    counter_block.extend_from_slice(&nonce_caller);
    counter_block.extend_from_slice(&nonce_tpm);
    b32(&mut counter_block, 256);
    {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"").unwrap();
        mac.update(&counter_block);
        key_iv.copy_from_slice(&mac.finalize().into_bytes());
    }
    let mut encrypted = OWNER_AUTH;
    cfb_mode::Encryptor::<aes::Aes128>::new_from_slices(&key_iv[..16], &key_iv[16..])
        .unwrap()
        .encrypt(&mut encrypted);
    let mut sessions = empty_pw.clone();
    b32(&mut sessions, session);
    tpm2b(&mut sessions, &nonce_caller);
    sessions.push(0x20); // decrypt, not continued
    tpm2b(&mut sessions, &[]);
    let mut p = Vec::new();
    tpm2b(&mut p, &encrypted);
    ok(exec(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[Handle::RH_OWNER.0], Some(&sessions), &p));
    let mut owner_pw = Vec::new();
    pw(&mut owner_pw, &OWNER_AUTH);
    // The owner authValue took the decrypted value: a command authorized with it succeeds.
    let mut p = Vec::new();
    tpm2b(&mut p, &[]);
    ok(exec(&mut t, CommandCode::HIERARCHY_CHANGE_AUTH, &[Handle::RH_OWNER.0], Some(&owner_pw), &p));
    wipe(owner_pw);
    wipe(object_pw);
    wipe(nv_pw);
    wipe(sessions);

    let before = LEAKS.load(Ordering::SeqCst);
    WATCHING.store(true, Ordering::SeqCst);
    drop(t);
    WATCHING.store(false, Ordering::SeqCst);
    let leaked = LEAKS.load(Ordering::SeqCst) - before;
    if leaked > 0 {
        LEAKY.lock().unwrap().push(format!("drop(Tpm): {leaked}"));
    }
    assert!(SCANNED.load(Ordering::SeqCst) > 100, "the scan saw the engine's frees");
    let leaky = LEAKY.lock().unwrap();
    assert!(leaky.is_empty(), "freed blocks still holding a secret, after: {leaky:?}");
}
