"""What people read: the live view, the summary, plan tables, graphs, why, image layers."""
