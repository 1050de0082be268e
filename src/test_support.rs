//! Fixtures shared by unit tests.

/// A temporary root with the notebook user (`ec2-user`, uid 1000) in
/// `/etc/passwd`, `/etc/group` (also in `wheel`) and `/etc/gshadow`.
pub fn notebook_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    let etc = dir.path().join("etc");
    std::fs::create_dir_all(&etc).expect("etc");
    for (file, text) in [
        ("passwd", "ec2-user:x:1000:1000::/home/ec2-user:/bin/sh\n"),
        ("group", "wheel:x:10:ec2-user\nec2-user:x:1000:\n"),
        ("gshadow", "wheel:!::ec2-user\nec2-user:!::\n"),
    ] {
        std::fs::write(etc.join(file), text).expect("account file");
    }
    dir
}
