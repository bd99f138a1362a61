//! Who a container of this image runs as, resolved the way runc does it:
//! names through the image's own /etc/passwd and /etc/group.

use crate::imagefs::ImageFs;

pub const PASSWD: &str = "/etc/passwd";
pub const GROUP: &str = "/etc/group";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageUser {
    pub uid: u64,
    pub gid: u64,
    /// Supplementary groups from /etc/group membership.
    pub groups: Vec<u64>,
    pub name: Option<String>,
}

impl ImageUser {
    pub fn is_root(&self) -> bool {
        self.uid == 0
    }

    /// Whether this user may read (and, for directories, enter) an entry.
    pub fn can_access(&self, owner: u64, group: u64, mode: u32, needed: u32) -> bool {
        if self.is_root() {
            return true;
        }
        let bits = if owner == self.uid {
            (mode >> 6) & 0o7
        } else if group == self.gid || self.groups.contains(&group) {
            (mode >> 3) & 0o7
        } else {
            mode & 0o7
        };
        bits & needed == needed
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserResolution {
    Resolved(ImageUser),
    /// The runtime would refuse to start the container.
    Unresolvable(String),
}

struct PasswdEntry {
    name: String,
    uid: u64,
    gid: u64,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u64,
    members: Vec<String>,
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            Some(PasswdEntry {
                name: fields.first()?.to_string(),
                uid: fields.get(2)?.parse().ok()?,
                gid: fields.get(3)?.parse().ok()?,
                home: fields.get(5).map(|h| h.to_string()).unwrap_or_default(),
            })
        })
        .collect()
}

/// Home directories from /etc/passwd with their owners' uids: `(home, uid)`.
pub fn home_directories(fs: &ImageFs) -> Vec<(String, u64)> {
    let text = fs
        .read_file(PASSWD)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    parse_passwd(&text)
        .into_iter()
        .filter(|p| p.home.starts_with('/') && p.home != "/")
        .map(|p| (crate::imagefs::normalize(&p.home), p.uid))
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            Some(GroupEntry {
                name: fields.first()?.to_string(),
                gid: fields.get(2)?.parse().ok()?,
                members: fields
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Resolves the config's `User` ("", "uid", "name", "uid:gid", "name:group").
/// `fs` must have kept /etc/passwd and /etc/group.
pub fn resolve(spec: &str, fs: &ImageFs) -> UserResolution {
    let read = |path: &str| {
        fs.read_file(path)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    let passwd = parse_passwd(&read(PASSWD));
    let groups = parse_group(&read(GROUP));
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let (uid, name, passwd_gid) = if user_part.is_empty() {
        (0, Some("root".to_string()), Some(0))
    } else if let Ok(uid) = user_part.parse::<u64>() {
        let found = passwd.iter().find(|p| p.uid == uid);
        (uid, found.map(|p| p.name.clone()), found.map(|p| p.gid))
    } else {
        match passwd.iter().find(|p| p.name == user_part) {
            Some(p) => (p.uid, Some(p.name.clone()), Some(p.gid)),
            None => {
                return UserResolution::Unresolvable(format!(
                    "user {user_part:?} is not in the image's {PASSWD}"
                ))
            }
        }
    };
    let gid = match group_part {
        None | Some("") => passwd_gid.unwrap_or(0),
        Some(g) => match g.parse::<u64>() {
            Ok(gid) => gid,
            Err(_) => match groups.iter().find(|e| e.name == g) {
                Some(e) => e.gid,
                None => {
                    return UserResolution::Unresolvable(format!(
                        "group {g:?} is not in the image's {GROUP}"
                    ))
                }
            },
        },
    };
    let mut supplementary: Vec<u64> = match &name {
        Some(n) => groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m == n))
            .map(|g| g.gid)
            .collect(),
        None => Vec::new(),
    };
    supplementary.sort_unstable();
    supplementary.dedup();
    UserResolution::Resolved(ImageUser {
        uid,
        gid,
        groups: supplementary,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_classes() {
        let user = ImageUser {
            uid: 65532,
            gid: 65532,
            groups: vec![5],
            name: Some("nonroot".into()),
        };
        assert!(user.can_access(65532, 0, 0o400, 0o4));
        assert!(!user.can_access(0, 0, 0o640, 0o4));
        assert!(user.can_access(0, 5, 0o640, 0o4));
        assert!(user.can_access(0, 0, 0o644, 0o4));
        assert!(!user.can_access(0, 0, 0o604, 0o5));
    }

    #[test]
    fn passwd_lines() {
        let entries = parse_passwd("root:x:0:0:root:/root:/sbin/nologin\n# c\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\nbroken\n");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].uid, 65532);
    }
}
