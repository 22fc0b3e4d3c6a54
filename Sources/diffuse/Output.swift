// Terminal output: one-line errors, and a progress line on stderr that is drawn only when stderr is a terminal.

import Diffuse
import Foundation

/// An error's message as one line (loaders and Foundation may produce several).
func errorLine(_ error: Error) -> String {
    let text: String
    if let e = error as? LocalizedError, let d = e.errorDescription {
        text = d
    } else if type(of: error) is NSError.Type {
        text = (error as NSError).localizedDescription
    } else {
        text = String(describing: error)   // CustomStringConvertible errors give their description
    }
    return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        .filter { !$0.isEmpty }.joined(separator: " ")
}

func printError(_ message: String) {
    let line = message.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        .filter { !$0.isEmpty }.joined(separator: " ")
    FileHandle.standardError.write(Data("error: \(line)\n".utf8))
}

func printStatus(_ message: String) {
    FileHandle.standardError.write(Data("\(message)\n".utf8))
}

/// `step 12/50  1.23 s/it  ETA 0:47`, rewritten in place with \r (and `image 2/4` in front for batches).
struct ProgressLine {
    let enabled: Bool
    private(set) var drawn = false

    init(quiet: Bool) { enabled = !quiet && isatty(STDERR_FILENO) != 0 }

    static func format(_ p: GenerationProgress) -> String {
        let remaining = Double((p.imageCount - p.image) * p.stepCount + (p.stepCount - p.step)) * p.secondsPerStep
        let eta = Int(remaining.rounded())
        let etaText = eta >= 3600 ? String(format: "%d:%02d:%02d", eta / 3600, eta / 60 % 60, eta % 60)
                                  : String(format: "%d:%02d", eta / 60, eta % 60)
        let prefix = p.imageCount > 1 ? "image \(p.image)/\(p.imageCount)  " : ""
        return prefix + "step \(p.step)/\(p.stepCount)  " + String(format: "%.2f", p.secondsPerStep) + " s/it  ETA " + etaText
    }

    mutating func update(_ p: GenerationProgress) {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\(Self.format(p))\u{1B}[K".utf8))
        drawn = true
    }

    /// Ends the progress line so the next message starts on a fresh line.
    mutating func finish() {
        guard drawn else { return }
        FileHandle.standardError.write(Data("\n".utf8))
        drawn = false
    }
}
