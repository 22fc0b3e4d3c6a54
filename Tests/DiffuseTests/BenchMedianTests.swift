@testable import Diffuse
import XCTest

/// `diffuse bench` and scripts/bench/diffusers_bench.py must report the same statistic, or the ratio
/// compares different things: Python's `statistics.median` averages the middle two of an even count.
final class BenchMedianTests: XCTestCase {
    func testMedianMatchesPythonStatisticsMedian() {
        // Values from `python3 -c "import statistics; print(statistics.median([...]))"`.
        XCTAssertEqual(Bench.median([2.535, 3.202]), 2.8685, accuracy: 1e-12)
        XCTAssertEqual(Bench.median([3.0, 1.0, 2.0]), 2.0)
        XCTAssertEqual(Bench.median([4.0, 1.0, 3.0, 2.0]), 2.5)
        XCTAssertEqual(Bench.median([7.5]), 7.5)
        XCTAssertTrue(Bench.median([]).isNaN)
    }
}
