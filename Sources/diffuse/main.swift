// Entry point. Every failure — bad flags, bad values, a model that will not load — ends as one line on stderr
// (`error: …`) and a non-zero exit status; help and --version print normally.

import ArgumentParser
import Diffuse
import Foundation

do {
    var command = try DiffuseCommand.parseAsRoot()
    try command.run()
} catch {
    if DiffuseCommand.exitCode(for: error) == .success { DiffuseCommand.exit(withError: error) }
    let isUsage = !(error is GenerationError || error is PNGError) && DiffuseCommand.exitCode(for: error) != .failure
    let message = isUsage ? DiffuseCommand.message(for: error) : errorLine(error)
    printError(message)
    exit(isUsage ? 2 : 1)
}
