//! Message decoding of every type a peer can send, without the frame around it.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| flotilla_transport_fuzz::check_messages(bytes));
