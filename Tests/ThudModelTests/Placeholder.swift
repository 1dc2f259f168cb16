import XCTest

final class ThudModelTestsPlaceholder: XCTestCase {}
