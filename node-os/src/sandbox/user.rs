//! Who the container's process runs as: the image's `USER` (`name`, `uid`, `name:group`,
//! `uid:gid`) resolved against the `/etc/passwd` and `/etc/group` of the container's own root,
//! as runc does. A numeric id needs no entry; a name must have one. The supplementary groups
//! are those `/etc/group` lists the user in, and `HOME` comes from the passwd entry.

/// The resolved identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) groups: Vec<u32>,
    /// The user's home directory, `/` when the passwd file has none.
    pub(crate) home: String,
}

/// Resolves `user` (`None`: root) given the text of the root's passwd and group files (empty
/// when absent).
pub(crate) fn resolve(user: Option<&str>, passwd: &str, group: &str) -> Result<Identity, String> {
    let user = user.unwrap_or("0");
    let (name, group_part) = match user.split_once(':') {
        Some((name, group)) => (name, Some(group)),
        None => (user, None),
    };
    let entry = passwd_entries(passwd).find(|entry| match name.parse::<u32>() {
        Ok(uid) => entry.uid == uid,
        Err(_) => entry.name == name,
    });
    let uid = match (name.parse::<u32>(), &entry) {
        (Ok(uid), _) => uid,
        (Err(_), Some(entry)) => entry.uid,
        (Err(_), None) => {
            return Err(format!(
                "unable to find user {name}: no matching entries in passwd file"
            ));
        }
    };
    let gid = match group_part {
        Some(group_name) => match group_name.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group_entries(group)
                .find(|entry| entry.name == group_name)
                .map(|entry| entry.gid)
                .ok_or_else(|| {
                    format!("unable to find group {group_name}: no matching entries in group file")
                })?,
        },
        None => entry.as_ref().map_or(0, |entry| entry.gid),
    };
    let groups = match (&entry, group_part) {
        (Some(entry), None) => group_entries(group)
            .filter(|g| g.members.contains(&entry.name))
            .map(|g| g.gid)
            .filter(|&g| g != gid)
            .collect(),
        _ => Vec::new(),
    };
    let home = entry
        .map(|entry| entry.home)
        .filter(|home| !home.is_empty())
        .unwrap_or("/")
        .to_string();
    Ok(Identity {
        uid,
        gid,
        groups,
        home,
    })
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

/// `name:password:uid:gid:gecos:home:shell` lines; malformed ones are skipped.
fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        Some(PasswdEntry {
            name: fields.first()?,
            uid: fields.get(2)?.parse().ok()?,
            gid: fields.get(3)?.parse().ok()?,
            home: fields.get(5).copied().unwrap_or(""),
        })
    })
}

/// `name:password:gid:member,member` lines; malformed ones are skipped.
fn group_entries(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        Some(GroupEntry {
            name: fields.first()?,
            gid: fields.get(2)?.parse().ok()?,
            members: fields
                .get(3)
                .map(|members| members.split(',').filter(|m| !m.is_empty()).collect())
                .unwrap_or_default(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                          broken line\n\
                          www:x:33:33:www-data:/var/www:/usr/sbin/nologin\n\
                          nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nstaff:x:50:www,other\naudio:x:29:www\n";

    fn identity(user: Option<&str>) -> Identity {
        resolve(user, PASSWD, GROUP).unwrap()
    }

    #[test]
    fn no_user_is_root() {
        let root = identity(None);
        assert_eq!((root.uid, root.gid, root.home.as_str()), (0, 0, "/root"));
    }

    #[test]
    fn names_and_ids_resolve_through_the_root_files() {
        let www = identity(Some("www"));
        assert_eq!((www.uid, www.gid), (33, 33));
        assert_eq!(www.groups, [50, 29]);
        assert_eq!(www.home, "/var/www");

        let by_id = identity(Some("33"));
        assert_eq!((by_id.uid, by_id.gid, by_id.groups.len()), (33, 33, 2));

        let explicit = identity(Some("www:staff"));
        assert_eq!((explicit.uid, explicit.gid), (33, 50));
        assert!(explicit.groups.is_empty());

        let numeric = identity(Some("1000:1000"));
        assert_eq!(
            (numeric.uid, numeric.gid, numeric.home.as_str()),
            (1000, 1000, "/")
        );
    }

    #[test]
    fn unknown_names_are_errors_naming_them() {
        let error = resolve(Some("ghost"), PASSWD, GROUP).unwrap_err();
        assert!(error.contains("unable to find user ghost"), "{error}");
        let error = resolve(Some("www:ghosts"), PASSWD, GROUP).unwrap_err();
        assert!(error.contains("unable to find group ghosts"), "{error}");
        // An image without passwd file may still name numeric ids.
        assert_eq!(resolve(Some("7"), "", "").unwrap().uid, 7);
    }
}
