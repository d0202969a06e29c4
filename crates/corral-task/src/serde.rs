//! `serde::Serialize` for the census types and the leak watch's flags; the shapes are
//! in the crate docs, "The census as data".

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::census::{Census, Site};
use crate::creators::Creator;
use crate::registry::{Snapshot, TaskInfo};
use crate::watch::{Flag, WatchEvent};

/// A sequence, from a function that makes its iterator (`serialize` takes `&self`, so
/// the iterator is made afresh each time): a snapshot's tasks, a census's sites, a
/// creator chain.
struct Seq<F>(F);

impl<F, I> Serialize for Seq<F>
where
    F: Fn() -> I,
    I: IntoIterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((self.0)())
    }
}

/// A struct of a count and a list: `{ "<count>": n, "<list>": [...] }` (a snapshot,
/// a census).
fn counted<S: Serializer, T: Serialize>(
    s: S,
    name: &'static str,
    (count_key, count): (&'static str, usize),
    (list_key, list): (&'static str, &T),
) -> Result<S::Ok, S::Error> {
    let mut st = s.serialize_struct(name, 2)?;
    st.serialize_field(count_key, &count)?;
    st.serialize_field(list_key, list)?;
    st.end()
}

impl Serialize for Snapshot {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let tasks = Seq(|| self.iter());
        counted(s, "Snapshot", ("len", self.len()), ("tasks", &tasks))
    }
}

impl Serialize for TaskInfo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("TaskInfo", 7)?;
        st.serialize_field("id", &self.id().as_u64())?;
        st.serialize_field("name", &self.name())?;
        st.serialize_field("site", &self.location().to_string())?;
        st.serialize_field("parent", &self.parent().map(|p| p.as_u64()))?;
        // The creator chain, nearest first.
        let chain = || std::iter::successors(self.creator(), |c| c.creator());
        st.serialize_field("created_by", &Seq(chain))?;
        st.serialize_field("runtime", &self.runtime().to_string())?;
        st.serialize_field("age_secs", &self.age().as_secs_f64())?;
        st.end()
    }
}

impl Serialize for Creator {
    /// The creator itself (name and site); its own creator is not nested: a
    /// [`TaskInfo`] lists the whole chain flat, as `created_by`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Creator", 2)?;
        st.serialize_field("name", &self.name())?;
        st.serialize_field("site", &self.location().to_string())?;
        st.end()
    }
}

impl Serialize for Census {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let sites = Seq(|| self.iter());
        counted(s, "Census", ("total", self.total()), ("sites", &sites))
    }
}

impl Serialize for Site {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Site", 4)?;
        st.serialize_field("site", &self.location().to_string())?;
        st.serialize_field("name", &self.name())?;
        st.serialize_field("count", &self.count())?;
        st.serialize_field("oldest_secs", &self.oldest().as_secs_f64())?;
        st.end()
    }
}

/// A flag's fields, written into the struct being serialized (a [`Flag`] alone, or
/// after a [`WatchEvent`]'s `event`). The same names as the watch's `tracing` fields.
fn flag_fields<S: SerializeStruct>(st: &mut S, flag: &Flag) -> Result<(), S::Error> {
    st.serialize_field("site", &flag.location().to_string())?;
    st.serialize_field("name", &flag.name())?;
    st.serialize_field("count", &flag.count())?;
    st.serialize_field("growth", &flag.growth())?;
    st.serialize_field("oldest_secs", &flag.oldest().as_secs_f64())
}

impl Serialize for Flag {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Flag", 5)?;
        flag_fields(&mut st, self)?;
        st.end()
    }
}

impl Serialize for WatchEvent {
    /// Flat: `event` (`"flagged"` or `"cleared"`), then the flag's fields.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (event, flag) = match self {
            WatchEvent::Flagged(flag) => ("flagged", flag),
            WatchEvent::Cleared(flag) => ("cleared", flag),
        };
        let mut st = s.serialize_struct("WatchEvent", 6)?;
        st.serialize_field("event", event)?;
        flag_fields(&mut st, flag)?;
        st.end()
    }
}
