// ThudMedia
