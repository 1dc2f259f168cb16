import XCTest

final class ThudCaptureTestsPlaceholder: XCTestCase {}
