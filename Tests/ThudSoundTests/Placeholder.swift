import XCTest

final class ThudSoundTestsPlaceholder: XCTestCase {}
