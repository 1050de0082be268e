//! Users and groups, read from the root's own `etc/passwd`, `etc/group` and
//! `etc/gshadow` (never NSS: the root being managed is not the host's), and
//! edits of group membership that keep every other byte of those files.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Accounts {
    pub users: Vec<User>,
    pub groups: Vec<Group>,
}

impl Accounts {
    /// Parses `passwd` and `group` text. Lines that are not well-formed
    /// entries (comments, NIS `+` lines) are ignored here and kept by edits.
    pub fn parse(passwd: &str, group: &str) -> Accounts {
        let users = passwd
            .lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split(':').collect();
                if f.len() != 7 || f[0].is_empty() {
                    return None;
                }
                Some(User {
                    name: f[0].to_string(),
                    uid: f[2].parse().ok()?,
                    gid: f[3].parse().ok()?,
                    home: f[5].to_string(),
                })
            })
            .collect();
        let groups = group
            .lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split(':').collect();
                if f.len() != 4 || f[0].is_empty() {
                    return None;
                }
                Some(Group {
                    name: f[0].to_string(),
                    gid: f[2].parse().ok()?,
                    members: split_members(f[3]),
                })
            })
            .collect();
        Accounts { users, groups }
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The user's primary group and every group listing it as a member.
    pub fn groups_of(&self, user: &str) -> Vec<&Group> {
        let primary = self.user(user).map(|u| u.gid);
        self.groups
            .iter()
            .filter(|g| Some(g.gid) == primary || g.members.iter().any(|m| m == user))
            .collect()
    }
}

fn split_members(field: &str) -> Vec<String> {
    field
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect()
}

/// Rewrites the line of `group` in `group` or `gshadow` text (both have
/// four fields) with `edit`, which returns the new fields or `None` to keep
/// the line; every other line and byte is kept.
fn edit_group_line(
    text: &str,
    group: &str,
    edit: impl Fn(&[&str]) -> Option<[String; 4]>,
) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.split_inclusive('\n') {
        let (body, newline) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let fields: Vec<&str> = body.split(':').collect();
        match (fields.len() == 4 && fields[0] == group)
            .then(|| edit(&fields))
            .flatten()
        {
            Some(f) => out.push_str(&format!("{}{newline}", f.join(":"))),
            None => out.push_str(line),
        }
    }
    out
}

/// `list` with `user` added or removed; `None` when it is already so.
fn with_user(list: &str, user: &str, present: bool) -> Option<String> {
    let mut names = split_members(list);
    if names.iter().any(|m| m == user) == present {
        return None;
    }
    if present {
        names.push(user.to_string());
    } else {
        names.retain(|m| m != user);
    }
    Some(names.join(","))
}

/// Adds or removes `user` in the member list of `group`, in `group` or
/// `gshadow` text (both keep members in the fourth field). Every other line
/// and field is kept byte for byte. Returns the text unchanged when the
/// group is absent or already as asked.
pub fn set_membership(text: &str, group: &str, user: &str, member: bool) -> String {
    edit_group_line(text, group, |f| {
        let members = with_user(f[3], user, member)?;
        Some([f[0].into(), f[1].into(), f[2].into(), members])
    })
}

/// Removes `user` from the administrator list (third field) of `group` in
/// `gshadow` text; every other byte is kept.
pub fn clear_admin(text: &str, group: &str, user: &str) -> String {
    edit_group_line(text, group, |f| {
        let admins = with_user(f[2], user, false)?;
        Some([f[0].into(), f[1].into(), admins, f[3].into()])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        ec2-user:x:1000:1000:EC2 Default User:/home/ec2-user:/bin/bash\n\
        +nis\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:ec2-user\nadm:x:4:ec2-user,syslog\n\
        ec2-user:x:1000:\ndocker:x:992:ec2-user\n";

    #[test]
    fn reads_users_and_their_groups() {
        let a = Accounts::parse(PASSWD, GROUP);
        let u = a.user("ec2-user").expect("user");
        assert_eq!(
            (u.uid, u.gid, u.home.as_str()),
            (1000, 1000, "/home/ec2-user")
        );
        let names: Vec<&str> = a
            .groups_of("ec2-user")
            .iter()
            .map(|g| g.name.as_str())
            .collect();
        assert_eq!(names, ["wheel", "adm", "ec2-user", "docker"]);
        assert!(a.user("+nis").is_none());
    }

    #[test]
    fn membership_edits_touch_only_the_member_list() {
        let removed = set_membership(GROUP, "adm", "ec2-user", false);
        assert!(removed.contains("\nadm:x:4:syslog\n"));
        assert_eq!(removed.lines().count(), GROUP.lines().count());
        let back = set_membership(&removed, "adm", "ec2-user", true);
        assert!(back.contains("\nadm:x:4:syslog,ec2-user\n"));
        assert_eq!(set_membership(GROUP, "wheel", "ec2-user", true), GROUP);
        assert_eq!(set_membership(GROUP, "nogroup", "ec2-user", false), GROUP);
        let gshadow = "wheel:!::ec2-user\n# comment\n";
        assert_eq!(
            set_membership(gshadow, "wheel", "ec2-user", false),
            "wheel:!::\n# comment\n"
        );
        let admin = "docker:!:root,ec2-user:ec2-user\nwheel:!:ec2-user:\n";
        assert_eq!(
            clear_admin(admin, "docker", "ec2-user"),
            "docker:!:root:ec2-user\nwheel:!:ec2-user:\n"
        );
    }
}
