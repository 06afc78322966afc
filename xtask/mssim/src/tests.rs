//! The framing against byte strings spelled out by hand, and each side's decoder against the other
//! side's encoder.
use std::io::Cursor;

use crate::{
    SendCommand, Signal, encode_handshake_reply, encode_response, encode_send_command, next_signal,
    read_response, read_send_command,
};

#[test]
fn send_command_is_code_locality_length_and_bytes() {
    let request = encode_send_command(3, b"abc").unwrap();
    assert_eq!(request, [0, 0, 0, 8, 3, 0, 0, 0, 3, b'a', b'b', b'c']);
    let mut stream = Cursor::new(request);
    assert_eq!(next_signal(&mut stream).unwrap(), Some(Signal::SEND_COMMAND));
    assert_eq!(
        read_send_command(&mut stream, 3).unwrap(),
        SendCommand::Command { locality: 3, command: b"abc".to_vec() }
    );
}

#[test]
fn an_announced_length_over_the_bound_is_not_read() {
    let mut stream = Cursor::new([0, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3].to_vec());
    assert_eq!(read_send_command(&mut stream, 4096).unwrap(), SendCommand::Oversized(u32::MAX));
    assert_eq!(stream.position(), 5, "nothing after the length is consumed");
    let mut one_over = Cursor::new([0, 0, 0, 0, 4, 1, 2, 3, 4].to_vec());
    assert_eq!(read_send_command(&mut one_over, 3).unwrap(), SendCommand::Oversized(4));
}

#[test]
fn a_truncated_command_is_an_error() {
    let mut stream = Cursor::new([0, 0, 0, 0, 4, 1, 2].to_vec());
    assert!(read_send_command(&mut stream, 64).is_err());
}

#[test]
fn next_signal_tells_a_clean_close_from_a_cut_code() {
    assert_eq!(next_signal(&mut Cursor::new(Vec::new())).unwrap(), None);
    assert!(next_signal(&mut Cursor::new(vec![0, 0])).is_err());
    assert_eq!(next_signal(&mut Cursor::new(vec![0, 0, 0, 21])).unwrap(), Some(Signal::STOP));
}

#[test]
fn response_is_length_bytes_and_trailing_ack() {
    let reply = encode_response(&[0x80, 0x01, 7]).unwrap();
    assert_eq!(reply, [0, 0, 0, 3, 0x80, 0x01, 7, 0, 0, 0, 0]);
    assert_eq!(read_response(&mut Cursor::new(reply), 3).unwrap(), [0x80, 0x01, 7]);
    // A powered-off TPM's empty response.
    assert_eq!(read_response(&mut Cursor::new(encode_response(&[]).unwrap()), 0).unwrap(), []);
}

#[test]
fn client_refuses_long_responses_and_bad_trailers() {
    let reply = encode_response(&[1, 2, 3, 4]).unwrap();
    assert!(read_response(&mut Cursor::new(reply), 3).is_err());
    let bad_trailer = vec![0, 0, 0, 1, 9, 0, 0, 0, 1];
    assert!(read_response(&mut Cursor::new(bad_trailer), 64).is_err());
    let truncated = vec![0, 0, 0, 4, 9, 9];
    assert!(read_response(&mut Cursor::new(truncated), 64).is_err());
}

#[test]
fn handshake_reply_is_version_info_and_ack() {
    assert_eq!(encode_handshake_reply(1, 5), [0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 0]);
}
