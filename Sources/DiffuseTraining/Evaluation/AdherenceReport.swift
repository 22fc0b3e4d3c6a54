// The Markdown adherence report: pass rates per group beside the issue's targets, the held-out gap, why
// pictures failed (per criterion), a few failing prompts, and everything needed to reproduce the numbers:
// the command, the model file's SHA-256 and its training steps and time.

import DiffuseModels
import Foundation

/// What the report says about the model file.
public struct EvaluatedModel: Sendable {
    public var path: String
    public var sha256: String
    public var trainingSteps: Int?
    public var trainingSeconds: Double?
    public var architecture: String?

    /// Reads the hash and, from the metadata, the training steps and time (an exported model stores them as
    /// keys, a training checkpoint in its training state).
    /// `shownAs`: the path as the report should print it (default: the absolute path).
    public init(url: URL, metadata: [String: String], shownAs: String? = nil) throws {
        path = shownAs ?? url.path
        sha256 = try sha256Hex(ofFileAt: url)
        architecture = metadata[ModelInfo.architectureKey]
        trainingSteps = metadata["diffuse.training_steps"].flatMap { Int($0) }
        trainingSeconds = metadata["diffuse.training_seconds"].flatMap { Double($0) }
        if let json = metadata[TrainingCheckpoint.stateKey],
           let state = try? JSONDecoder().decode(TrainingCheckpoint.State.self, from: Data(json.utf8)) {
            trainingSteps = trainingSteps ?? state.step
            trainingSeconds = trainingSeconds ?? state.trainingSeconds
        }
    }
}

public enum AdherenceReport {
    /// How many failing prompts to list per group.
    static let examplesPerGroup = 5

    /// `title`: what was evaluated ("the built-in model", a file name).
    public static func markdown(_ results: [AdherenceResult], title: String = "the built-in model", model: EvaluatedModel,
                                command: String, settings: String, seconds: Double, date: Date = Date()) -> String {
        var md = ["# Prompt adherence of \(title)", ""]
        md += ["Measured by `diffuse evaluate` on prompt/seed pairs not used in training, checked by the shapes "
            + "evaluator (`Sources/DiffuseTraining/Evaluation`): right shapes, colours, count, sizes, positions or "
            + "relation, and background.", ""]
        md += ["| | |", "|---|---|",
               "| date | \(dateText(date)) |",
               "| model | `\(model.path)` |",
               "| SHA-256 | `\(model.sha256)` |",
               "| training | \(trainingText(model)) |",
               "| sampling | \(settings) |",
               "| evaluation time | \(String(format: "%.0f", seconds)) s |", ""]
        if let a = model.architecture { md += ["Architecture: \(a).", ""] }
        md += ["Reproduce:", "", "```sh", command, "```", ""]
        md += resultTable(results)
        md += failureTable(results)
        md += examples(results)
        return md.joined(separator: "\n")
    }

    static func resultTable(_ results: [AdherenceResult]) -> [String] {
        var md = ["## Pass rates", "", "| group | passed | total | pass rate | target | met |", "|---|---:|---:|---:|---|---|"]
        let gap = Adherence.heldOutGap(results)
        for r in results {
            let met: String
            switch r.group.name {
            case Adherence.oneObject: met = r.percent >= 90 ? "yes" : "no"
            case Adherence.relational: met = r.percent >= 70 ? "yes" : "no"
            case Adherence.heldOut: met = gap.map { abs($0) <= Adherence.maxHeldOutGap ? "yes" : "no" } ?? "–"
            default: met = "–"
            }
            md.append("| \(r.group.name) | \(r.passed) | \(r.total) | \(percent(r.percent)) | \(r.group.target) | \(met) |")
        }
        md.append("")
        if let gap {
            md += [String(format: "Held-out − seen gap: %+.1f points (held-out colour–shape minus one object; target: "
                + "within ±%.0f).", gap, Adherence.maxHeldOutGap), ""]
        }
        return md
    }

    static func failureTable(_ results: [AdherenceResult]) -> [String] {
        let criteria = ShapesEvaluation.Criterion.allCases
        var md = ["## Why pictures failed", "",
                  "Failed pictures per criterion (a picture can fail several; a criterion is checked only where "
                  + "the prompt names it, count and shape always).", "",
                  "| group | failed | " + criteria.map(\.rawValue).joined(separator: " | ") + " |",
                  "|---|---:|" + String(repeating: "---:|", count: criteria.count)]
        for r in results {
            let counts = r.failureCounts
            md.append("| \(r.group.name) | \(r.total - r.passed) | " + criteria.map { String(counts[$0] ?? 0) }.joined(separator: " | ") + " |")
        }
        md.append("")
        return md
    }

    static func examples(_ results: [AdherenceResult]) -> [String] {
        var md = ["## Failing examples", "", "The first \(examplesPerGroup) failures of each group "
            + "(`diffuse generate -s SEED \"PROMPT\"` with the sampling settings above draws the same picture).", ""]
        for r in results {
            let failures = r.cases.filter { !$0.passed }.prefix(examplesPerGroup)
            guard !failures.isEmpty else { continue }
            md.append("- \(r.group.name):")
            for f in failures {
                md.append("  - \"\(f.prompt)\", seed \(f.seed): \(f.failed.map(\.rawValue).joined(separator: ", "))")
            }
        }
        md.append("")
        return md
    }

    static func percent(_ p: Double) -> String { String(format: "%.1f%%", p) }

    static func trainingText(_ m: EvaluatedModel) -> String {
        let steps = m.trainingSteps.map { "\($0) steps" } ?? "steps unknown"
        guard let s = m.trainingSeconds else { return steps + ", training time unknown" }
        return steps + String(format: ", %.1f h of training (%.0f s)", s / 3600, s)
    }

    static func dateText(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withDashSeparatorInDate, .withSpaceBetweenDateAndTime]
        return f.string(from: date) + " UTC"
    }
}
