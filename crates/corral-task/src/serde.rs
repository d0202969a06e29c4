//! `serde::Serialize` for the census types; the shapes are in the crate docs, "The
//! census as data".

use serde::ser::{Serialize, SerializeSeq, SerializeStruct, Serializer};

use crate::census::{Census, Site};
use crate::creators::Creator;
use crate::registry::{Snapshot, TaskInfo};

impl Serialize for Snapshot {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Snapshot", 2)?;
        st.serialize_field("len", &self.len())?;
        st.serialize_field("tasks", &Tasks(self))?;
        st.end()
    }
}

struct Tasks<'a>(&'a Snapshot);

impl Serialize for Tasks<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for t in self.0 {
            seq.serialize_element(t)?;
        }
        seq.end()
    }
}

impl Serialize for TaskInfo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("TaskInfo", 7)?;
        st.serialize_field("id", &self.id().as_u64())?;
        st.serialize_field("name", &self.name())?;
        st.serialize_field("site", &self.location().to_string())?;
        st.serialize_field("parent", &self.parent().map(|p| p.as_u64()))?;
        st.serialize_field("created_by", &Chain(self.creator()))?;
        st.serialize_field("runtime", &self.runtime().to_string())?;
        st.serialize_field("age_secs", &self.age().as_secs_f64())?;
        st.end()
    }
}

/// A creator chain, nearest first.
struct Chain<'a>(Option<&'a Creator>);

impl Serialize for Chain<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        let mut next = self.0;
        while let Some(c) = next {
            seq.serialize_element(c)?;
            next = c.creator();
        }
        seq.end()
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
        let mut st = s.serialize_struct("Census", 2)?;
        st.serialize_field("total", &self.total())?;
        st.serialize_field("sites", &Sites(self))?;
        st.end()
    }
}

struct Sites<'a>(&'a Census);

impl Serialize for Sites<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for site in self.0 {
            seq.serialize_element(site)?;
        }
        seq.end()
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
