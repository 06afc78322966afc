//! The benchmark's report: one table on the terminal, the tpm2-tss figures beside the raw-client
//! figures of the same command, and the same rows as JSON.

use super::{Row, tss};

/// One table: the tpm2-tss figures, and beside them the raw-client figures of the same command;
/// raw-only rows (commands the tpm2-tss script does not send) follow.
pub fn print_table(through_tss: &[tss::Figure], raw: &[Row], iterations: u32) {
    println!("vTPM command latency over TCP loopback, medians in µs (lower is better); quick commands");
    println!("{iterations} calls, key commands and RSA as given by the --*-iterations options");
    if raw.is_empty() {
        // The firmware bench: tpm2-tss figures only.
        println!("{:<34} {:>12} {:>12} {:>7}", "command", "tss Warden", "tss swtpm", "ratio");
        for figure in through_tss {
            let (warden, swtpm) = (figure.warden_us, figure.swtpm_us);
            println!("{:<34} {warden:>12.1} {swtpm:>12.1} {:>7.3}", figure.command, warden / swtpm);
        }
        return;
    }
    println!(
        "{:<34} {:>12} {:>12} {:>7} | {:>12} {:>12} {:>7}",
        "command", "tss Warden", "tss swtpm", "ratio", "raw Warden", "raw swtpm", "ratio"
    );
    let raw_cells = |command: &str| match raw.iter().find(|row| row.command == command) {
        None => format!("{:>12} {:>12} {:>7}", "–", "–", "–"),
        Some(Row { outcome: Ok((warden, swtpm)), .. }) => {
            format!("{warden:>12.1} {swtpm:>12.1} {:>7.3}", warden / swtpm)
        }
        Some(Row { outcome: Err(error), .. }) => format!("not measured: {error}"),
    };
    for figure in through_tss {
        let (warden, swtpm) = (figure.warden_us, figure.swtpm_us);
        let tss_cells = format!("{warden:>12.1} {swtpm:>12.1} {:>7.3}", warden / swtpm);
        println!("{:<34} {tss_cells} | {}", figure.command, raw_cells(&figure.command));
    }
    for row in raw.iter().filter(|row| !through_tss.iter().any(|figure| figure.command == row.command)) {
        println!("{:<34} {:>12} {:>12} {:>7} | {}", row.command, "–", "–", "–", raw_cells(row.command));
    }
}

/// `{"tss": [row, …], "raw": [row, …]}`, each row `{"command": …, "warden_us": …, "swtpm_us": …,
/// "ratio": …}`; a raw row that could not be measured has null figures and an `"error"`.
pub fn json(through_tss: &[tss::Figure], raw: &[Row]) -> String {
    let figures = |command: &str, warden: f64, swtpm: f64| {
        format!(
            "    {{\"command\": {}, \"warden_us\": {warden:.2}, \"swtpm_us\": {swtpm:.2}, \"ratio\": {:.4}}}",
            json_string(command),
            warden / swtpm
        )
    };
    let tss_lines: Vec<String> = through_tss
        .iter()
        .map(|figure| figures(&figure.command, figure.warden_us, figure.swtpm_us))
        .collect();
    let raw_lines: Vec<String> = raw
        .iter()
        .map(|row| match &row.outcome {
            Ok((warden, swtpm)) => figures(row.command, *warden, *swtpm),
            Err(error) => format!(
                "    {{\"command\": {}, \"warden_us\": null, \"swtpm_us\": null, \"ratio\": null, \"error\": {}}}",
                json_string(row.command),
                json_string(error)
            ),
        })
        .collect();
    format!(
        "{{\n  \"tss\": [\n{}\n  ],\n  \"raw\": [\n{}\n  ]\n}}\n",
        tss_lines.join(",\n"),
        raw_lines.join(",\n")
    )
}

/// A JSON string literal (RFC 8259, section 7).
fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
