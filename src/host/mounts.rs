//! The running system's mount table, from `/proc/self/mountinfo`
//! (`proc(5)`): which file system is mounted where, with which options.

use std::path::{Path, PathBuf};

/// One line of `mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub point: PathBuf,
    pub fstype: String,
    /// The mount's own options and its file system's (`nosuid`,
    /// `hidepid=invisible`, …), in the table's order.
    pub options: Vec<String>,
}

impl Mount {
    /// The value of `key=value` among the options, when set.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find_map(|o| o.strip_prefix(key)?.strip_prefix('='))
    }
}

/// `\040` and the other octal escapes the kernel writes for blanks.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let n = bytes[i + 1..i + 4]
                .iter()
                .fold(0u32, |n, b| n * 8 + u32::from(b - b'0'));
            if let Ok(b) = u8::try_from(n) {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every mount in the table, in its order (a later mount at the same
/// place covers an earlier one). Lines that do not parse are left out.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (head, tail) = line.split_once(" - ")?;
            let head: Vec<&str> = head.split(' ').collect();
            let mut tail = tail.split(' ');
            let point = unescape(head.get(4)?);
            let mut options: Vec<String> = head.get(5)?.split(',').map(str::to_string).collect();
            let fstype = tail.next()?.to_string();
            let _source = tail.next()?;
            options.extend(tail.next().unwrap_or("").split(',').map(str::to_string));
            Some(Mount {
                point: PathBuf::from(point),
                fstype,
                options,
            })
        })
        .collect()
}

/// The mount that is visible at `point`: the last one mounted there.
pub fn at(table: &[Mount], point: &Path) -> Option<Mount> {
    table.iter().rev().find(|m| m.point == point).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_visible_mount_and_its_options_are_read() {
        let table = parse(
            "22 1 0:5 / /proc rw,nosuid,nodev,noexec,relatime shared:5 - proc proc rw\n\
             23 22 0:21 / /proc/sys/fs/binfmt_misc rw,relatime - autofs systemd-1 rw,fd=29\n\
             90 22 0:50 / /proc rw,nosuid master:9 - proc proc rw,hidepid=invisible,gid=27\n\
             91 1 8:1 / /home/a\\040b rw - ext4 /dev/sda1 rw\n\
             garbage\n",
        );
        assert_eq!(table.len(), 4);
        let proc = at(&table, Path::new("/proc")).expect("/proc");
        assert_eq!(proc.fstype, "proc");
        assert_eq!(proc.option("hidepid"), Some("invisible"));
        assert_eq!(proc.option("gid"), Some("27"));
        assert_eq!(proc.option("fd"), None);
        assert!(at(&table, Path::new("/home/a b")).is_some());
        assert!(at(&table, Path::new("/sys")).is_none());
    }
}
