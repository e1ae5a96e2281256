//! `${var}` references in configuration values, expanded as Hadoop's `Configuration.get` does
//! (Hadoop 3, `substituteVars`), so an `ozone-site.xml` that builds paths from other keys or the
//! environment means the same here as in Ozone:
//! - the left-most `${name}` is replaced, and the result scanned again, at most 20 times;
//!   a name holds no `}`, `$` or space and is not empty;
//! - `${env.NAME}` reads the environment; `${env.NAME:-default}` takes the default when NAME is
//!   unset or empty, `${env.NAME-default}` only when it is unset;
//! - any other name is first a Java system property (only the few a launcher always has:
//!   `user.name`, `user.home`, `user.dir`, `java.io.tmpdir`), then the raw value of that key;
//! - an unknown name stops the expansion and leaves the rest as written;
//! - a value that would contain its own reference is returned unexpanded (Hadoop's loop check).
//!
//! Where Hadoop throws when a key needing more than 20 substitutions is read, the caller here
//! gets an error naming the value at load time.

/// Most substitutions in one value (Hadoop's `MAX_SUBST`).
pub(crate) const MAX_SUBST: usize = 20;

/// Where values of names come from, besides the configuration itself.
pub(crate) struct Process<'a> {
    /// The environment (`${env.X}`).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Java system properties, as a JVM launched by Ozone's scripts has them.
    pub property: &'a dyn Fn(&str) -> Option<String>,
}

/// This process's environment and the system properties derived from it.
pub(crate) fn this_process() -> Process<'static> {
    Process { env: &real_env, property: &system_property }
}

fn real_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn system_property(name: &str) -> Option<String> {
    match name {
        "user.name" => real_env("USER").or_else(|| real_env("LOGNAME")),
        "user.home" => real_env("HOME"),
        "user.dir" => std::env::current_dir().ok().map(|d| d.display().to_string()),
        "java.io.tmpdir" => Some("/tmp".to_string()),
        _ => None,
    }
}

/// The byte range of the left-most `${name}` in `s`, braces included.
fn find_reference(s: &str) -> Option<(usize, usize)> {
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(offset) = s.get(from..)?.find("${") {
        let open = from + offset;
        let name_start = open + 2;
        let mut i = name_start;
        loop {
            match bytes.get(i)? {
                b'}' if i > name_start => return Some((open, i + 1)),
                // A `$` may begin the next reference; after `}` or a space, look past it.
                b'$' => {
                    from = i;
                    break;
                }
                b'}' | b' ' => {
                    from = i + 1;
                    break;
                }
                _ => i += 1,
            }
        }
    }
    None
}

/// The value of `${env...}` or of a system property, if the process has one.
fn from_process(name: &str, process: &Process<'_>) -> Option<String> {
    let Some(spec) = name.strip_prefix("env.").filter(|s| !s.is_empty()) else {
        return (process.property)(name);
    };
    for (i, c) in spec.char_indices() {
        if c == ':' && spec[i + 1..].starts_with('-') {
            let value = (process.env)(&spec[..i]).filter(|v| !v.is_empty());
            return Some(value.unwrap_or_else(|| spec[i + 2..].to_string()));
        }
        if c == '-' {
            return Some((process.env)(&spec[..i]).unwrap_or_else(|| spec[i + 1..].to_string()));
        }
    }
    (process.env)(spec)
}

/// `expr` with its references expanded; `raw` gives a key's value as written.
pub(crate) fn expand(
    expr: &str,
    raw: &dyn Fn(&str) -> Option<String>,
    process: &Process<'_>,
) -> Result<String, String> {
    let mut eval = expr.to_string();
    for _ in 0..MAX_SUBST {
        let Some((open, close)) = find_reference(&eval) else { return Ok(eval) };
        let name = &eval[open + 2..close - 1];
        let Some(value) = from_process(name, process).or_else(|| raw(name)) else { return Ok(eval) };
        if value.contains(&eval[open..close]) {
            return Ok(expr.to_string());
        }
        eval = format!("{}{value}{}", &eval[..open], &eval[close..]);
    }
    Err(format!("variable substitution depth too large: {MAX_SUBST} {expr}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn expand_in(pairs: &[(&str, &str)], env: &[(&str, &str)], expr: &str) -> Result<String, String> {
        let conf: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let env_fn = |n: &str| env.get(n).cloned();
        let prop_fn = |n: &str| (n == "user.name").then(|| "hdfs".to_string());
        let process = Process { env: &env_fn, property: &prop_fn };
        expand(expr, &|n| conf.get(n).cloned(), &process)
    }

    #[test]
    fn references_to_keys_chain_and_unknown_ones_stay_as_written() {
        let conf = [("base", "/data"), ("db", "${base}/om"), ("file", "x")];
        assert_eq!(expand_in(&conf, &[], "${db}/${file}.db").unwrap(), "/data/om/x.db");
        assert_eq!(expand_in(&conf, &[], "a${my.undefvar}b${base}").unwrap(), "a${my.undefvar}b${base}");
        assert_eq!(expand_in(&conf, &[], "/tmp/hadoop-${user.name}").unwrap(), "/tmp/hadoop-hdfs");
    }

    #[test]
    fn only_well_formed_names_are_references() {
        let conf = [("a", "A"), ("b", "B")];
        for (expr, want) in
            [("${}${a}", "${}A"), ("${ a}${b}", "${ a}B"), ("$${a}", "$A"), ("${a", "${a"), ("${x$${b}", "${x$B")]
        {
            assert_eq!(expand_in(&conf, &[], expr).unwrap(), want, "{expr}");
        }
    }

    #[test]
    fn environment_references_take_their_defaults_as_hadoop_does() {
        let env = [("SET", "v"), ("EMPTY", "")];
        for (expr, want) in [
            ("${env.SET}", "v"),
            ("${env.SET:-d}", "v"),
            ("${env.EMPTY:-d}", "d"),
            ("${env.EMPTY-d}", ""),
            ("${env.UNSET-d}", "d"),
            ("${env.UNSET:-d/e}", "d/e"),
            ("${env.UNSET}", "${env.UNSET}"),
        ] {
            assert_eq!(expand_in(&[], &env, expr).unwrap(), want, "{expr}");
        }
    }

    #[test]
    fn a_value_holding_its_own_reference_is_left_unexpanded() {
        let conf = [("x", "${x}/a"), ("base", "/d")];
        assert_eq!(expand_in(&conf, &[], "${base}${x}").unwrap(), "${base}${x}");
    }

    #[test]
    fn a_loop_through_two_keys_is_an_error_naming_the_value() {
        let conf = [("a", "${b}"), ("b", "${a}x")];
        let err = expand_in(&conf, &[], "${a}").unwrap_err();
        assert_eq!(err, "variable substitution depth too large: 20 ${a}");
    }
}
