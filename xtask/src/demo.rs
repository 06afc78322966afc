//! `cargo xtask demo`: the whole chain of issue 14, told step by step. Build the image with the test
//! guest and its signed reference values; start `warden-verifier` on a fresh SQLite store holding those
//! values, a policy naming them and a secret under that policy; run the guest-side agent
//! (`warden-kbs-agent`), which boots the image on the emulated SEV-SNP machine to attest, and print the
//! secret it receives. Then the same with a copy of the image with one byte changed (so another launch
//! digest): the verifier must refuse, and the demo shows which check failed. Exit 0 only when both
//! outcomes are as expected.
//!
//! The two boots run side by side (each is a single-threaded emulator, about 35 s on an idle machine).
//! Everything here is INSECURE test material: the reference values' signing key, the emulated PSP's
//! ARK, the store key.
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Instant;

use crate::build::{SNP_GUEST_IGVM, output_dir, workspace_root};
use crate::lint::{check, host_cargo as cargo};
use crate::reference_values::{PUBLIC_KEY_FILE, envelope_file};

/// Run the demo.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Do not build the image first: use what is in target/warden/.
    #[arg(long)]
    pub no_build: bool,
    /// Give up on a boot after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
}

/// The resource the demo stores and the agent asks for.
const RESOURCE: &str = "demo/disk/key";
/// The policy guarding it.
const POLICY: &str = "warden-snp-guest-only";
/// The check the changed image must fail (`warden_evidence::Check::MeasurementReferenced`).
const EXPECTED_REFUSAL: &str = "measurement-referenced";

/// Runs the demo.
pub fn run(args: &Args) -> crate::Result {
    say(1, "build the image, its signed reference values, the verifier, the agent, the emulated machine");
    if !args.no_build {
        crate::build::build(&crate::build::Args::default())?;
    }
    crate::machine::build()?;
    let bins = ["build", "--quiet", "--package", "warden-verifier", "--package", "warden-kbs-agent"];
    check("building warden-verifier and warden-kbs-agent", cargo(&bins).status()?)?;
    let image = output_dir().join(SNP_GUEST_IGVM);
    let envelope = output_dir().join(envelope_file(SNP_GUEST_IGVM));
    for file in [&image, &envelope] {
        if !file.exists() {
            return Err(format!("demo: {} is missing", file.display()).into());
        }
    }
    let started = Instant::now();
    let work = Scratch::new()?;

    say(2, "a verifier store (SQLite) with the signed reference values, a policy and a secret");
    let store = format!("sqlite://{}", work.path("verifier.db").display());
    let store_key = work.path("store.key");
    std::fs::write(&store_key, random_hex(32)?)?;
    let store_args = |command: &mut Command| {
        command.args(["--store", &store]).arg("--store-key").arg(&store_key);
    };
    let added = verifier(|c| {
        c.args(["reference-values", "add"])
            .arg(&envelope)
            .arg("--key")
            .arg(output_dir().join(PUBLIC_KEY_FILE));
        store_args(c);
    })?;
    let id = String::from_utf8_lossy(&added.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("stored reference values ")?.split(' ').next().map(str::to_owned))
        .ok_or("demo: `reference-values add` did not say the id it stored")?;
    let policy = work.path("policy.json");
    let policy_json = serde_json::json!({
        "reference-values": [id],
        "minimum-tcb": { "bootloader": 0, "tee": 0, "snp": 0, "microcode": 0 },
        "allow-debug": false,
    });
    std::fs::write(&policy, serde_json::to_vec_pretty(&policy_json)?)?;
    verifier(|c| {
        c.args(["policy", "set", POLICY]).arg(&policy);
        store_args(c);
    })?;
    let secret = format!("warden-demo-disk-key-{}", random_hex(8)?);
    std::fs::write(work.path("secret.txt"), &secret)?;
    verifier(|c| {
        c.args(["resource", "put", RESOURCE, "--file"])
            .arg(work.path("secret.txt"))
            .args(["--policy", POLICY]);
        store_args(c);
    })?;

    say(3, "start `warden-verifier serve`, trusting the emulated PSP's INSECURE test ARK");
    let ark = work.path("ark.pem");
    std::fs::write(&ark, test_ark()?)?;
    let mut serve = Command::new(binary("warden-verifier"));
    serve.args(["serve", "--listen", "127.0.0.1:0"]).arg("--ark").arg(&ark);
    store_args(&mut serve);
    let server = Server::start(serve)?;
    println!("  verifier at {}", server.url);

    say(4, "a copy of the image with one byte of the test guest changed (another launch digest)");
    let changed = work.path("warden-snp-guest-changed.igvm");
    std::fs::write(&changed, with_guest_byte_changed(&std::fs::read(&image)?)?)?;

    say(5, "the agent against both images, side by side: each boots on the emulated SNP machine");
    let agent = |igvm: &Path, out: &Path| -> crate::Result<Child> {
        let mut command = Command::new(binary("warden-kbs-agent"));
        command.args(["get", "--url", &server.url, "--resource", RESOURCE]).arg("--out").arg(out);
        command.arg("--machine").arg(std::env::current_exe()?).args(["attest", "--no-build", "--image"]);
        command.arg(igvm).args([
            "--out",
            "{out}",
            "--nonce",
            "{nonce}",
            "--timeout",
            &args.timeout.to_string(),
        ]);
        Ok(command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?)
    };
    let booted = Instant::now();
    let real = agent(&image, &work.path("secret-real.bin"))?;
    let other = agent(&changed, &work.path("secret-changed.bin"))?;
    let (real, other) = (real.wait_with_output()?, other.wait_with_output()?);
    let boots = booted.elapsed();

    say(6, "the outcomes");
    show("the real image", &real);
    let released = std::fs::read(work.path("secret-real.bin")).unwrap_or_default();
    let real_ok = real.status.success() && released == secret.as_bytes();
    if real_ok {
        println!("  RELEASED to the real image: {}", String::from_utf8_lossy(&released));
    }
    show("the changed image", &other);
    let refusal =
        String::from_utf8_lossy(&other.stderr).lines().find(|l| l.contains("refused")).map(str::to_owned);
    let refused_ok = !other.status.success()
        && !work.path("secret-changed.bin").exists()
        && refusal.as_deref().is_some_and(|l| l.contains(EXPECTED_REFUSAL));
    if let Some(line) = refusal.as_deref().filter(|_| refused_ok) {
        println!("  REFUSED to the changed image, check `{EXPECTED_REFUSAL}` failed: {line}");
    }
    drop(server);
    println!(
        "demo: {:.1} s besides the build ({:.1} s of it the two boots, side by side)",
        started.elapsed().as_secs_f64(),
        boots.as_secs_f64()
    );
    match (real_ok, refused_ok) {
        (true, true) => {
            println!("demo: PASS: the secret went to the matching image only");
            Ok(())
        }
        (false, _) => Err("demo: the real image did not receive the secret".into()),
        (true, false) => {
            Err(format!("demo: the changed image was not refused on `{EXPECTED_REFUSAL}`").into())
        }
    }
}

fn say(step: u32, what: &str) {
    println!("demo: {step}/6 {what}");
}

/// Prints an agent's output, indented.
fn show(name: &str, output: &Output) {
    println!("  agent for {name} ({}):", output.status);
    for line in
        String::from_utf8_lossy(&output.stdout).lines().chain(String::from_utf8_lossy(&output.stderr).lines())
    {
        println!("    {line}");
    }
}

/// A binary cargo built into target/debug.
fn binary(name: &str) -> PathBuf {
    workspace_root().join("target/debug").join(name)
}

/// Runs `warden-verifier` with the arguments `configure` adds; its output is shown, a failure is an error.
fn verifier(configure: impl FnOnce(&mut Command)) -> crate::Result<Output> {
    let mut command = Command::new(binary("warden-verifier"));
    configure(&mut command);
    let output = command.output()?;
    for line in
        String::from_utf8_lossy(&output.stdout).lines().chain(String::from_utf8_lossy(&output.stderr).lines())
    {
        println!("  {line}");
    }
    check("warden-verifier", output.status)?;
    Ok(output)
}

/// `count` random bytes as hex.
fn random_hex(count: usize) -> crate::Result<String> {
    let mut bytes = vec![0u8; count];
    getrandom::fill(&mut bytes).map_err(|e| format!("demo: no randomness: {e}"))?;
    Ok(warden_evidence::hex(&bytes))
}

/// The emulated PSP's ARK: the first certificate of its stored INSECURE TEST chain.
fn test_ark() -> crate::Result<String> {
    let chain =
        std::fs::read_to_string(workspace_root().join("tests/machine/src/psp/insecure-test-certs.pem"))?;
    let begin = chain.find("-----BEGIN CERTIFICATE-----").ok_or("demo: no certificate in the test chain")?;
    let end_marker = "-----END CERTIFICATE-----";
    let end =
        chain[begin..].find(end_marker).ok_or("demo: unterminated certificate")? + begin + end_marker.len();
    Ok(format!("{}\n", &chain[begin..end]))
}

/// `igvm` with one byte of the test guest's own text changed (a string only its EK step prints, as in
/// `tests/machine/tests/stable_ek.rs`): the guest still runs and attests, under another launch digest.
fn with_guest_byte_changed(igvm: &[u8]) -> crate::Result<Vec<u8>> {
    let needle = b"the attested manifest";
    let mut found = igvm.windows(needle.len()).enumerate().filter(|(_, w)| w == needle).map(|(at, _)| at);
    let (Some(at), None) = (found.next(), found.next()) else {
        return Err(
            "demo: the test guest's text `the attested manifest` is not in the image exactly once".into()
        );
    };
    let mut changed = igvm.to_vec();
    changed[at + 4] = b'A';
    Ok(changed)
}

/// A scratch directory under target/, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> crate::Result<Self> {
        let dir = workspace_root().join(format!("target/demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The running verifier; stopped when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    /// Starts `command` and waits for its `listening on http://ADDR` line; later lines are echoed.
    fn start(mut command: Command) -> crate::Result<Self> {
        let mut child = command.stderr(Stdio::piped()).spawn()?;
        let stderr = child.stderr.take().ok_or("demo: no verifier stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let mut url = None;
        for line in lines.by_ref() {
            let line = line?;
            println!("  {line}");
            if let Some((_, rest)) = line.split_once("listening on ") {
                url = Some(rest.trim().to_owned());
                break;
            }
        }
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                println!("  {line}");
            }
        });
        match url {
            Some(url) => Ok(Self { child, url }),
            None => {
                let status = child.wait()?;
                Err(format!("demo: warden-verifier serve ended ({status}) before it listened").into())
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // The child is ours (spawned above); stopping it ends the demo's service.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
