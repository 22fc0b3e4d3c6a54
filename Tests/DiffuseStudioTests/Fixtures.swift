import Foundation

/// Root of the committed fixtures (Tests/Fixtures), made by scripts/make_fixtures.sh.
let fixturesRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")
