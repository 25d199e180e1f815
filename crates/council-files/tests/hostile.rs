//! A fifo, /dev/zero, a folder, a huge file and a planted link, handed over as files:
//! each refused at once with an error that names it, or (the link) never followed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use council_files::{read_private, read_small, write_atomic, AtomicFile, FileError};

/// Runs `f` on a thread: a hang (a fifo read blocking forever) fails the test instead of
/// stalling the suite.
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| panic!("{what} did not return: it hangs"))
}

fn mkfifo(p: &Path) {
    let ok = std::process::Command::new("mkfifo").arg(p).status().expect("mkfifo runs").success();
    assert!(ok, "mkfifo failed");
}

#[test]
fn a_fifo_a_device_a_folder_and_a_huge_file_are_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("key.fifo");
    mkfifo(&fifo);
    let p = fifo.clone();
    let e = within("reading a fifo", move || read_small(&p, 4096).unwrap_err());
    assert!(matches!(e, FileError::NotRegular { .. }), "{e}");
    assert!(e.to_string().contains("fifo"), "{e}");
    let p = fifo.clone();
    let e = within("reading a fifo as a private file", move || read_private(&p, 4096).unwrap_err());
    assert!(e.to_string().contains("fifo"), "{e}");

    let e = within("reading /dev/zero", || read_small(Path::new("/dev/zero"), 1 << 20).unwrap_err());
    assert!(e.to_string().contains("a device"), "{e}");

    let e = read_small(dir.path(), 4096).unwrap_err();
    assert!(matches!(e, FileError::NotRegular { .. } | FileError::Read { .. }), "{e}");

    // 300 MB (sparse: nothing is written), where a few bytes are expected.
    let huge = dir.path().join("huge.key");
    std::fs::File::create(&huge).unwrap().set_len(300 << 20).unwrap();
    let e = read_small(&huge, 4096).unwrap_err();
    assert!(matches!(e, FileError::TooLarge { len, max: 4096, .. } if len == 300 << 20), "{e}");

    // A missing file says so.
    let e = read_small(&dir.path().join("absent"), 10).unwrap_err();
    assert!(e.is_not_found(), "{e}");
}

#[test]
fn a_private_file_others_may_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("member.key");
    std::fs::write(&key, b"secret").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = read_private(&key, 4096).unwrap_err();
    assert!(matches!(e, FileError::Readable { mode: 0o644, .. }), "{e}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(read_private(&key, 4096).unwrap(), b"secret");
}

#[test]
fn a_link_planted_where_a_temporary_file_goes_is_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"do not touch").unwrap();
    let out = dir.path().join("export.cnx");
    // Links at every name an older version used, and at the prefix this one uses.
    for name in ["export.partial", "export.cnx.partial", ".export.cnx.partial", "export.cnx.tmp"] {
        std::os::unix::fs::symlink(&victim, dir.path().join(name)).unwrap();
    }
    write_atomic(&out, b"the export", false).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), b"the export");
    assert_eq!(std::fs::read(&victim).unwrap(), b"do not touch");
    // An abandoned write leaves nothing behind and the destination as it was.
    {
        use std::io::Write;
        let mut f = AtomicFile::create(&out, true).unwrap();
        f.file().write_all(b"half").unwrap();
    }
    assert_eq!(std::fs::read(&out).unwrap(), b"the export");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".partial") && n.starts_with(".export.cnx.") && n != ".export.cnx.partial")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    // A private file is the owner's alone.
    use std::os::unix::fs::PermissionsExt;
    write_atomic(&dir.path().join("node.key"), b"k", true).unwrap();
    assert_eq!(std::fs::metadata(dir.path().join("node.key")).unwrap().permissions().mode() & 0o777, 0o600);
}
