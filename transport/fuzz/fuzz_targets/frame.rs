//! The frame decoder, on what a server or client may read from a hostile peer.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| flotilla_transport_fuzz::check_frames(bytes));
