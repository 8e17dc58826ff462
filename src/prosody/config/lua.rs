//! Reading a Prosody config the way Prosody does: by running it as Lua.
//!
//! Prosody's `configmanager` runs `prosody.cfg.lua` in an environment whose
//! globals are the config itself: `name = value` sets an option on the
//! current section, reading a name gives that option back (or, failing
//! that, a Lua global such as `os` or `string`), `ENV_NAME` reads the
//! environment variable `NAME`, and `VirtualHost`, `Component` and
//! `Include` are functions. We do the same with mlua's vendored Lua 5.4, so
//! `app_id = "a" .. "b"`, `os.getenv("KEYS")` and `Include "conf.d/*.cfg.lua"`
//! read as they do in Prosody.
//!
//! The sandbox: only the `string`, `table`, `math` and `utf8` libraries, and
//! of `os` only `getenv`, `time`, `date` and `clock`; no `io`, no `require`,
//! no `load`/`dofile`, no coroutines, no `__gc` metamethods. Files are read
//! only where the config names them (`Include`, `FileContents`), as Prosody
//! would read them, and never block (see `file.rs`).
//!
//! A config that loops or allocates without end fails with a message naming
//! the file instead of hanging `doctor` or `verify`: a memory limit, an
//! instruction budget that `pcall` cannot swallow (the sandbox's `pcall` and
//! `xpcall` pass the budget's error on), and a wall-clock limit for what the
//! instruction count never sees: C code such as a backtracking
//! `string.find` pattern.

mod error;

use super::{Config, ConfigError, Redactions, Section, Value};
use error::{lua_to_config_error, shown};
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, VmState};
use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Memory the Lua state may use.
const MEMORY_LIMIT: usize = 64 * 1024 * 1024;
/// Instructions between two looks at the budget.
const HOOK_EVERY: u32 = 10_000;
/// Hook calls before the budget is spent (50 million instructions).
const INSTRUCTION_BUDGET: u32 = 5_000;
/// Longest a config may take to evaluate. Prosody's own configs take
/// milliseconds; what runs longer is stuck.
const WALL_LIMIT: Duration = Duration::from_secs(5);
/// How deep `Include` may nest (a file including itself stops here).
const MAX_INCLUDE_DEPTH: usize = 16;

/// A section as the config sets it: `VirtualHost "name"` (`virtual_host`),
/// `Component "name"`, or the global one (`header` is `None`).
struct RawSection {
    header: Option<(bool, String)>,
    /// Options in the order they were set, as Lua values.
    options: Vec<(String, mlua::Value)>,
}

/// What running the config has set so far.
struct State {
    /// The main config's folder, for relative paths in `Include`.
    dir: PathBuf,
    /// Index 0 is the global section.
    sections: Vec<RawSection>,
    /// Where `name = value` goes now.
    current: usize,
    /// How deep in `Include`s we are.
    depth: usize,
    /// What `FileContents` and `FileLine(s)` returned.
    read: Redactions,
}

impl State {
    fn get(&self, index: usize, name: &str) -> Option<mlua::Value> {
        self.sections[index]
            .options
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    /// What reading `name` gives in the current section: its own option,
    /// else the global one.
    fn lookup(&self, name: &str) -> Option<mlua::Value> {
        self.get(self.current, name).or_else(|| self.get(0, name))
    }

    fn set(&mut self, name: String, value: mlua::Value) {
        let current = self.current;
        self.sections[current].options.push((name, value));
    }

    fn open(&mut self, virtual_host: bool, name: String) -> usize {
        self.sections.push(RawSection {
            header: Some((virtual_host, name)),
            options: Vec::new(),
        });
        self.current = self.sections.len() - 1;
        self.current
    }
}

type Shared = Rc<RefCell<State>>;

/// Runs `text` (from `path`) and returns the options it sets, within
/// [`WALL_LIMIT`].
///
/// Why a thread: the instruction budget is counted by a Lua hook, which
/// runs only between Lua instructions. A backtracking pattern
/// (`string.rep("a", 50000):find(".-.-.-.-.-.-x")`), and any other long
/// call into C, never returns to the interpreter to be counted, and no
/// hook can interrupt it. Bounding the string functions instead would
/// mean guessing which patterns are too costly (a bound on length or on
/// quantifiers is both too strict and too loose), and would cover only
/// those. So the config runs on its own thread and the caller waits at
/// most [`WALL_LIMIT`]: what comes back is plain data. A thread given up on
/// is asked to stop at its next hook, and otherwise ends with the process,
/// which every command does soon after a config error.
pub(super) fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let (tx, rx) = mpsc::sync_channel(1);
    let stop = Arc::new(AtomicBool::new(false));
    let (owned_path, owned_text, asked) = (path.to_owned(), text.to_owned(), Arc::clone(&stop));
    let started = std::thread::Builder::new()
        .name("prosody-config".into())
        .spawn(move || {
            let _ = tx.send(evaluate(&owned_path, &owned_text, &asked));
        });
    let lua_error = |message: String| ConfigError::Lua {
        path: path.to_owned(),
        message,
    };
    if let Err(e) = started {
        return Err(lua_error(format!("cannot start evaluating it: {e}")));
    }
    match rx.recv_timeout(WALL_LIMIT) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            stop.store(true, Ordering::Relaxed);
            Err(lua_error(format!(
                "evaluating it ran longer than {} s (a string pattern that backtracks without end?); Prosody would hang on it too",
                WALL_LIMIT.as_secs()
            )))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(lua_error(
            "evaluating it failed inside the Lua sandbox (a bug: please report it)".into(),
        )),
    }
}

/// What the instruction budget's error says.
fn too_long() -> mlua::Error {
    mlua::Error::runtime(format!(
        "ran longer than its budget of {} million Lua instructions (an endless loop?); Prosody would hang on it too",
        u64::from(HOOK_EVERY) * u64::from(INSTRUCTION_BUDGET) / 1_000_000
    ))
}

/// Runs `text` in a fresh sandbox; `stop` says the caller gave up waiting.
fn evaluate(path: &Path, text: &str, stop: &Arc<AtomicBool>) -> Result<Config, ConfigError> {
    let lua_error = |e: mlua::Error| lua_to_config_error(path, &e);
    let lua = Lua::new_with(
        StdLib::STRING | StdLib::TABLE | StdLib::MATH | StdLib::UTF8 | StdLib::OS,
        LuaOptions::default(),
    )
    .map_err(lua_error)?;
    lua.set_memory_limit(MEMORY_LIMIT).map_err(lua_error)?;
    // Once spent, the budget stays spent: every later look fails too, and
    // the sandbox's pcall passes the error on (see `guarded`).
    let spent = Rc::new(Cell::new(false));
    let (hook_spent, stop) = (Rc::clone(&spent), Arc::clone(stop));
    let looks = Cell::new(0u32);
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(HOOK_EVERY),
        move |_, _| {
            looks.set(looks.get().saturating_add(1));
            if looks.get() > INSTRUCTION_BUDGET || stop.load(Ordering::Relaxed) {
                hook_spent.set(true);
                return Err(too_long());
            }
            Ok(VmState::Continue)
        },
    )
    .map_err(lua_error)?;
    let state: Shared = Rc::new(RefCell::new(State {
        dir: path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_owned(),
        sections: vec![RawSection {
            header: None,
            options: Vec::new(),
        }],
        current: 0,
        depth: 0,
        read: Redactions::default(),
    }));
    let globals = safe_globals(&lua, &spent).map_err(lua_error)?;
    let result = run_file(&lua, &state, &globals, path, text);
    // Take the values out before `lua` goes: the closures hold `state`.
    let state = std::mem::replace(
        &mut *state.borrow_mut(),
        State {
            dir: PathBuf::new(),
            sections: Vec::new(),
            current: 0,
            depth: 0,
            read: Redactions::default(),
        },
    );
    let mut redactions = state.read;
    if let Err(e) = result {
        return Err(shown(lua_error(e), &redactions));
    }
    let mut config = Config {
        path: path.to_owned(),
        ..Config::default()
    };
    for RawSection { header, options } in state.sections {
        let options: Vec<(String, Value)> = options
            .into_iter()
            .map(|(n, v)| (n, to_value(&v, 0)))
            .collect();
        if !redactions.is_empty() {
            for (_, v) in &options {
                derive(&mut redactions, v);
            }
        }
        match header {
            None => config.global = options,
            Some((virtual_host, name)) => {
                redactions.derived(&name);
                config.sections.push(Section {
                    virtual_host,
                    name,
                    options,
                })
            }
        }
    }
    config.redactions = redactions;
    Ok(config)
}

/// Remembers the strings in `v` made from texts read from files.
fn derive(redactions: &mut Redactions, v: &Value) {
    match v {
        Value::Str(s) => redactions.derived(s),
        Value::List(items) => items.iter().for_each(|i| derive(redactions, i)),
        _ => {}
    }
}

/// The globals a config may reach through the fallback and `Lua`: pure
/// functions and libraries, a trimmed `os`, and `pcall`, `xpcall` and
/// `setmetatable` that keep the budget in force.
fn safe_globals(lua: &Lua, spent: &Rc<Cell<bool>>) -> mlua::Result<Table> {
    let g = lua.globals();
    let safe = lua.create_table()?;
    for name in [
        "assert",
        "error",
        "ipairs",
        "next",
        "pairs",
        "pcall",
        "select",
        "tonumber",
        "tostring",
        "type",
        "xpcall",
        "rawequal",
        "rawget",
        "rawlen",
        "setmetatable",
        "getmetatable",
        "string",
        "table",
        "math",
        "utf8",
        "_VERSION",
    ] {
        safe.raw_set(name, g.raw_get::<mlua::Value>(name)?)?;
    }
    let os: Table = g.raw_get("os")?;
    let trimmed = lua.create_table()?;
    for name in ["getenv", "time", "date", "clock"] {
        trimmed.raw_set(name, os.raw_get::<mlua::Value>(name)?)?;
    }
    safe.raw_set("os", trimmed)?;
    let (pcall, xpcall, setmetatable) = guarded(lua, spent)?;
    safe.raw_set("pcall", pcall)?;
    safe.raw_set("xpcall", xpcall)?;
    safe.raw_set("setmetatable", setmetatable)?;
    Ok(safe)
}

/// `pcall` and `xpcall` that catch what a config raises but not the spent
/// budget (else `while true do pcall(function() while true do end end) end`
/// runs forever: each budget error is caught, and the loop goes on), and a
/// `setmetatable` that refuses `__gc`.
///
/// Lua runs some code with hooks off, where no budget can stop it: an
/// `xpcall` message handler called for an error raised by the hook itself
/// (the hook's error leaves hooks off until the `pcall` has unwound), and
/// finalizers. So `xpcall`'s handler is not run once the budget is spent,
/// and finalizers cannot be set.
fn guarded(lua: &Lua, spent: &Rc<Cell<bool>>) -> mlua::Result<(Function, Function, Function)> {
    let spent = Rc::clone(spent);
    let check =
        lua.create_function(move |_, ()| if spent.get() { Err(too_long()) } else { Ok(()) })?;
    lua.load(
        r#"
local pcall, xpcall, setmetatable, rawget, type, error, check = pcall, xpcall, setmetatable, rawget, type, error, ...
local function pass(ok, ...)
  if not ok then check() end
  return ok, ...
end
return function(f, ...) return pass(pcall(f, ...)) end,
  function(f, handler, ...)
    if type(handler) ~= "function" then return xpcall(f, handler, ...) end
    return pass(xpcall(f, function(e) check() return handler(e) end, ...))
  end,
  function(t, mt)
    if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
      error("__gc metamethods are not allowed in a config", 2)
    end
    return setmetatable(t, mt)
  end
"#,
    )
    .set_name("=sandbox")
    .call(check)
}

/// Runs one file (the main one or an included one) in a fresh environment
/// that starts in the global section, as Prosody's `Include` does.
fn run_file(
    lua: &Lua,
    state: &Shared,
    globals: &Table,
    path: &Path,
    text: &str,
) -> mlua::Result<()> {
    {
        let mut s = state.borrow_mut();
        s.current = 0;
    }
    let env = environment(lua, state, globals)?;
    lua.load(text)
        .set_name(format!("@{}", path.display()))
        .set_environment(env)
        .exec()
}

fn environment(lua: &Lua, state: &Shared, globals: &Table) -> mlua::Result<Table> {
    let env = lua.create_table()?;
    env.raw_set("VirtualHost", section_function(lua, state, true)?)?;
    env.raw_set("Host", section_function(lua, state, true)?)?;
    env.raw_set("host", section_function(lua, state, true)?)?;
    env.raw_set("Component", section_function(lua, state, false)?)?;
    env.raw_set("component", section_function(lua, state, false)?)?;
    env.raw_set("Include", include_function(lua, state, globals)?)?;
    env.raw_set("include", include_function(lua, state, globals)?)?;
    env.raw_set("RunScript", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    env.raw_set(
        "FileContents",
        file_function(lua, state, FileRead::Contents)?,
    )?;
    env.raw_set("FileLine", file_function(lua, state, FileRead::Line)?)?;
    env.raw_set("FileLines", file_function(lua, state, FileRead::Lines)?)?;

    let meta = lua.create_table()?;
    let (read_state, read_globals) = (Rc::clone(state), globals.clone());
    meta.raw_set(
        "__index",
        lua.create_function(move |lua, (_, key): (Table, mlua::Value)| {
            let mlua::Value::String(key) = key else {
                return Ok(mlua::Value::Nil);
            };
            let key = key.to_string_lossy();
            if let Some(var) = key.strip_prefix("ENV_") {
                return match std::env::var(var) {
                    Ok(v) => lua.create_string(v).map(mlua::Value::String),
                    Err(_) => Ok(mlua::Value::Nil),
                };
            }
            if key == "Lua" {
                return Ok(mlua::Value::Table(read_globals.clone()));
            }
            match read_state.borrow().lookup(&key) {
                Some(v) => Ok(v),
                None => read_globals.raw_get(key),
            }
        })?,
    )?;
    let write_state = Rc::clone(state);
    meta.raw_set(
        "__newindex",
        lua.create_function(
            move |_, (_, key, value): (Table, mlua::Value, mlua::Value)| {
                let key = match key {
                    mlua::Value::String(s) => s.to_string_lossy(),
                    other => other.to_string()?,
                };
                write_state.borrow_mut().set(key, value);
                Ok(())
            },
        )?,
    )?;
    env.set_metatable(Some(meta))?;
    Ok(env)
}

/// `VirtualHost "name"` / `Component "name" "module"`: opens a section;
/// the result can also take a table of options (`VirtualHost "x" { ... }`).
fn section_function(lua: &Lua, state: &Shared, virtual_host: bool) -> mlua::Result<Function> {
    let state = Rc::clone(state);
    lua.create_function(move |lua, name: mlua::Value| {
        let name = match name {
            mlua::Value::String(s) => s.to_string_lossy(),
            other => {
                return Err(mlua::Error::runtime(format!(
                    "{} needs a name in quotes, got {}",
                    if virtual_host {
                        "VirtualHost"
                    } else {
                        "Component"
                    },
                    other.type_name()
                )))
            }
        };
        let index = state.borrow_mut().open(virtual_host, name);
        options_function(lua, &state, index, !virtual_host)
    })
}

/// What `VirtualHost "x"` returns: takes `{ options }`, or for a component
/// first the module name.
fn options_function(
    lua: &Lua,
    state: &Shared,
    index: usize,
    takes_module: bool,
) -> mlua::Result<Function> {
    let state = Rc::clone(state);
    lua.create_function(move |lua, arg: mlua::Value| match arg {
        mlua::Value::String(module) if takes_module => {
            let mut s = state.borrow_mut();
            s.sections[index]
                .options
                .push(("component_module".into(), mlua::Value::String(module)));
            drop(s);
            options_function(lua, &state, index, false).map(mlua::Value::Function)
        }
        mlua::Value::Table(options) => {
            let mut s = state.borrow_mut();
            for pair in options.pairs::<mlua::Value, mlua::Value>() {
                let (k, v) = pair?;
                let k = match k {
                    mlua::Value::String(k) => k.to_string_lossy(),
                    other => other.to_string()?,
                };
                s.sections[index].options.push((k, v));
            }
            Ok(mlua::Value::Nil)
        }
        other => Err(mlua::Error::runtime(format!(
            "expected a table of options, got {}",
            other.type_name()
        ))),
    })
}

/// `Include "file"` and `Include "dir/*.cfg.lua"`: relative to the main
/// config's folder; a wildcard takes the matching non-hidden files, in name
/// order.
fn include_function(lua: &Lua, state: &Shared, globals: &Table) -> mlua::Result<Function> {
    let (state, globals) = (Rc::clone(state), globals.clone());
    lua.create_function(move |lua, file: String| {
        let (dir, depth, current) = {
            let s = state.borrow();
            (s.dir.clone(), s.depth, s.current)
        };
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(mlua::Error::runtime(format!(
                "Include {file:?}: included files nest more than {MAX_INCLUDE_DEPTH} deep (a file including itself?)"
            )));
        }
        let target = dir.join(&file);
        let files = if file.contains(['*', '?']) {
            matching_files(&target)?
        } else {
            vec![target]
        };
        for f in files {
            let text = super::file::read_text(&f)
                .map_err(|e| mlua::Error::runtime(format!("Error loading included {}: {e}", f.display())))?;
            state.borrow_mut().depth += 1;
            let result = run_file(lua, &state, &globals, &f, &text);
            let mut s = state.borrow_mut();
            s.depth -= 1;
            s.current = current;
            drop(s);
            result?;
        }
        Ok(())
    })
}

/// The files a wildcard `Include` names: its folder's non-hidden entries
/// whose names match the last path component.
fn matching_files(target: &Path) -> mlua::Result<Vec<PathBuf>> {
    let (folder, name) = (
        target.parent().unwrap_or(Path::new(".")),
        target
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
    );
    let pattern = glob::Pattern::new(&name)
        .map_err(|e| mlua::Error::runtime(format!("Include {}: {e}", target.display())))?;
    let entries = std::fs::read_dir(folder).map_err(|e| {
        mlua::Error::runtime(format!("Error loading included {}: {e}", folder.display()))
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && pattern.matches(n))
        .map(|n| folder.join(n))
        .collect();
    files.sort();
    Ok(files)
}

/// What `FileContents`, `FileLine` and `FileLines` return.
#[derive(Clone, Copy)]
enum FileRead {
    Contents,
    Line,
    Lines,
}

fn file_function(lua: &Lua, state: &Shared, what: FileRead) -> mlua::Result<Function> {
    let state = Rc::clone(state);
    lua.create_function(move |lua, file: String| {
        let path = state.borrow().dir.join(&file);
        let text = super::file::read_text(&path)
            .map_err(|e| mlua::Error::runtime(format!("cannot read {}: {e}", path.display())))?;
        state.borrow_mut().read.read(&path, &text);
        Ok(match what {
            FileRead::Contents => mlua::Value::String(lua.create_string(&text)?),
            FileRead::Line => {
                let line = text.lines().next().unwrap_or_default();
                mlua::Value::String(lua.create_string(line)?)
            }
            FileRead::Lines => mlua::Value::Table(lua.create_sequence_from(text.lines())?),
        })
    })
}

/// A Lua value as a config [`Value`]; tables become lists of their
/// sequence, then their other values in key order.
fn to_value(v: &mlua::Value, depth: usize) -> Value {
    match v {
        mlua::Value::Nil => Value::Nil,
        mlua::Value::Boolean(b) => Value::Bool(*b),
        mlua::Value::Integer(i) => Value::Num(*i as f64),
        mlua::Value::Number(n) => Value::Num(*n),
        mlua::Value::String(s) => Value::Str(s.to_string_lossy()),
        mlua::Value::Table(t) if depth < 8 => {
            let mut items = Vec::new();
            let n = t.raw_len();
            for i in 1..=n {
                items.push(to_value(
                    &t.raw_get(i).unwrap_or(mlua::Value::Nil),
                    depth + 1,
                ));
            }
            let mut rest: Vec<(String, Value)> = t
                .pairs::<mlua::Value, mlua::Value>()
                .filter_map(Result::ok)
                .filter(
                    |(k, _)| !matches!(k, mlua::Value::Integer(i) if *i >= 1 && (*i as usize) <= n),
                )
                .map(|(k, v)| (k.to_string().unwrap_or_default(), to_value(&v, depth + 1)))
                .collect();
            rest.sort_by(|a, b| a.0.cmp(&b.0));
            items.extend(rest.into_iter().map(|(_, v)| v));
            Value::List(items)
        }
        other => Value::Unreadable(format!("a {} value", other.type_name())),
    }
}
