//! JSONL export: tasks as the trainer's prompts files (one JSON object a line, with fields
//! `prompt`, `category` and `reference`).

use serde_json::{Value, json};

use crate::generate::Task;

/// `task` as a prompts-file record: `{"id", "prompt", "category", "reference"}`, with the
/// domain's name as the category (what the `synthetic` verifier reads) and the answer as the
/// reference.
pub fn prompt_record(task: &Task) -> Value {
    json!({
        "id": task.id,
        "prompt": task.prompt,
        "category": task.domain.name(),
        "reference": task.answer,
    })
}

/// `tasks` as a prompts file: one [`prompt_record`] a line, each ending in `\n`.
pub fn prompts_jsonl(tasks: &[Task]) -> String {
    tasks
        .iter()
        .map(|task| format!("{}\n", prompt_record(task)))
        .collect()
}

#[cfg(test)]
mod tests {
    use answer_check::synthetic::Domain;

    use super::*;

    #[test]
    fn records_carry_the_fields_the_trainer_reads() {
        let task = Task {
            id: "eval-add-0007".into(),
            domain: Domain::Add,
            prompt: "add 47 85".into(),
            answer: "132".into(),
        };
        assert_eq!(
            prompts_jsonl(&[task.clone(), task]),
            "{\"category\":\"add\",\"id\":\"eval-add-0007\",\"prompt\":\"add 47 85\",\
             \"reference\":\"132\"}\n"
                .repeat(2)
        );
    }
}
