"""HTTP views by area. Each module exposes `routes: web.RouteTableDef`."""
