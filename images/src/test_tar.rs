//! Tar archives built in memory for the tests: regular files owned by root, mode 0644.

/// A tar archive of `(path, bytes)` files.
pub fn tar_of<B: AsRef<[u8]>>(files: &[(&str, B)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, bytes) in files {
        let bytes = bytes.as_ref();
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        builder.append_data(&mut header, path, bytes).unwrap();
    }
    builder.into_inner().unwrap()
}
