//! Generates the CRI client and messages from `proto/runtime_v1.proto` (needs `protoc`, which
//! `cargo xtask up` and `cargo xtask test` install).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/runtime_v1.proto");
    tonic_prost_build::configure()
        .build_server(false)
        .compile_protos(&["proto/runtime_v1.proto"], &["proto"])?;
    Ok(())
}
