//! sqlx's statement log, for the test programs that count statements.

use std::sync::Mutex;

/// sqlx's statement log (it logs every query at target `sqlx::query`, a
/// query of several statements once), for the test programs that count
/// statements. A logger is for the whole process: such a test is a
/// program of its own, which calls [`StatementLog::install`] first.
pub struct StatementLog(Mutex<Vec<String>>);

pub static STATEMENTS: StatementLog = StatementLog(Mutex::new(Vec::new()));

impl StatementLog {
    pub fn install(&'static self) {
        log::set_logger(self).expect("the first logger of this test program");
        log::set_max_level(log::LevelFilter::Trace);
    }

    /// The statements logged since the last call, oldest first.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl log::Log for StatementLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.target() == "sqlx::query"
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            self.0.lock().unwrap().push(record.args().to_string());
        }
    }

    fn flush(&self) {}
}
