"""The customer journey: stages from first visit to churn, channel flows, and a self-contained HTML page."""

from cxml.journey.conversion import funnel, segment_labels
from cxml.journey.flows import ChannelFlows, channel_flows, convert_summary, time_to_convert
from cxml.journey.identity import stitching
from cxml.journey.report import JourneyResult, read_segment, write_journey
from cxml.journey.source import JourneySource, open_source
from cxml.journey.stages import STAGES, customer_journeys, journey_table

__all__ = [
    "STAGES",
    "ChannelFlows",
    "JourneyResult",
    "JourneySource",
    "channel_flows",
    "convert_summary",
    "customer_journeys",
    "funnel",
    "journey_table",
    "open_source",
    "read_segment",
    "segment_labels",
    "stitching",
    "time_to_convert",
    "write_journey",
]
